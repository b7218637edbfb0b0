// The hand-written XML reader (exact text, attributes and line numbers; every malformed document
// throws a yolonas::Error naming file and line; hostile input neither crashes nor hangs) and the
// Pascal VOC reader on top of it (bad <object>s are dropped and reported, the rest kept).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "yolonas/core/error.h"
#include "yolonas/data/voc.h"

namespace fs = std::filesystem;
using namespace yolonas;

namespace {

// Joins lines with CRLF, as Windows annotation tools (labelImg on Windows) write them.
std::string crlf(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\r\n";
  return out;
}

// A VOC2007-style file with the extras real exporters add: declaration, comment, root attribute,
// float coordinates, a difficult object, CRLF line ends.
std::string real_voc_file() {
  return crlf({
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>",  // 1
      "<!-- exported by labelImg -->",               // 2
      "<annotation verified=\"yes\">",               // 3
      "\t<folder>VOC2007</folder>",                  // 4
      "\t<filename>000005.jpg</filename>",           // 5
      "\t<source>",                                  // 6
      "\t\t<database>The VOC2007 Database</database>",
      "\t</source>",  // 8
      "\t<size>",     // 9
      "\t\t<width>500</width>",
      "\t\t<height>375</height>",
      "\t\t<depth>3</depth>",
      "\t</size>",                   // 13
      "\t<segmented>0</segmented>",  // 14
      "\t<object>",                  // 15
      "\t\t<name>chair</name>",
      "\t\t<pose>Rear</pose>",
      "\t\t<truncated>0</truncated>",
      "\t\t<difficult>0</difficult>",
      "\t\t<bndbox>",  // 20
      "\t\t\t<xmin>263</xmin>",
      "\t\t\t<ymin>211</ymin>",
      "\t\t\t<xmax>324</xmax>",
      "\t\t\t<ymax>339</ymax>",
      "\t\t</bndbox>",
      "\t</object>",  // 26
      "\t<object>",   // 27
      "\t\t<name> person </name>",
      "\t\t<truncated>1</truncated>",
      "\t\t<difficult>1</difficult>",
      "\t\t<bndbox><xmin>273.5</xmin><ymin>1</ymin>",  // 31
      "\t\t\t<xmax>499.25</xmax> <ymax>375</ymax></bndbox>",
      "\t</object>",
      "</annotation>",  // 34
  });
}

// Expects parse_xml(text) to throw "t.xml:<line>: ..." with `what` in the message.
void expect_xml_error(const std::string& text, int line, const std::string& what) {
  SCOPED_TRACE("input: " + text.substr(0, 80));
  try {
    parse_xml(text, "t.xml");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    const std::string prefix = "t.xml:" + std::to_string(line) + ": ";
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("yolonas_voc_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------

TEST(Xml, ParsesTreeTextAttributesAndLines) {
  const XmlElement root = parse_xml(real_voc_file(), "a.xml");
  EXPECT_EQ(root.name, "annotation");
  EXPECT_EQ(root.line, 3);
  ASSERT_EQ(root.attributes.size(), 1u);
  EXPECT_EQ(root.attributes[0].first, "verified");
  EXPECT_EQ(root.attributes[0].second, "yes");
  EXPECT_EQ(root.text, "");  // only whitespace between the children
  ASSERT_EQ(root.children.size(), 7u);
  EXPECT_EQ(root.children[0].name, "folder");
  EXPECT_EQ(root.children[0].text, "VOC2007");
  EXPECT_EQ(root.children[0].line, 4);
  const XmlElement* source = root.child("source");
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->line, 6);
  ASSERT_NE(source->child("database"), nullptr);
  EXPECT_EQ(source->child("database")->text, "The VOC2007 Database");  // no '\r' left from CRLF
  EXPECT_EQ(source->child("database")->line, 7);
  EXPECT_EQ(root.child("missing"), nullptr);
  // child() returns the first of several.
  const XmlElement* obj = root.child("object");
  ASSERT_NE(obj, nullptr);
  EXPECT_EQ(obj->line, 15);
  EXPECT_EQ(root.children[6].line, 27);
  const XmlElement* box = root.children[6].child("bndbox");
  ASSERT_NE(box, nullptr);
  EXPECT_EQ(box->line, 31);
  EXPECT_EQ(box->child("xmax")->line, 32);
  EXPECT_EQ(box->child("xmax")->text, "499.25");
}

TEST(Xml, DecodesEntitiesAndCdata) {
  const XmlElement a = parse_xml(
      "<a x='1 &amp; 2' y=\"&quot;q&quot; &apos;\" z = 'it\"s'>"
      "&lt;b&gt; &amp; &apos;c&quot; &#65;&#x42;&#xe9;&#x20AC;&#x1F600;"
      "<![CDATA[<raw> & &amp; ]]>tail</a>",
      "e.xml");
  ASSERT_EQ(a.attributes.size(), 3u);
  EXPECT_EQ(a.attributes[0].second, "1 & 2");
  EXPECT_EQ(a.attributes[1].second, "\"q\" '");
  EXPECT_EQ(a.attributes[2].first, "z");
  EXPECT_EQ(a.attributes[2].second, "it\"s");
  EXPECT_EQ(a.text, "<b> & 'c\" AB\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80<raw> & &amp; tail");
}

TEST(Xml, TextIsConcatenatedAroundChildrenAndTrimmed) {
  const XmlElement a = parse_xml("<a>\n  one <b>inner</b> two <!-- c --> three\n</a>", "t.xml");
  EXPECT_EQ(a.text, "one  two  three");
  ASSERT_EQ(a.children.size(), 1u);
  EXPECT_EQ(a.children[0].text, "inner");
}

TEST(Xml, SkipsDeclarationDoctypeCommentsAndInstructions) {
  const std::string text =
      "\xEF\xBB\xBF<?xml version='1.0'?>\n"                                  // 1 (with a BOM)
      "<!DOCTYPE annotation [\n<!ENTITY x \"a > b\">\n]>\n"                  // 2-4
      "<!-- a comment with <tags> and -- inside? no: just <tags> -->\n"      // 5
      "<annotation>\n"                                                       // 6
      "  <?custom processing instruction?>\n"                                // 7
      "  <empty/><empty2 k=\"v\" /><e3></e3>\n"                              // 8
      "</annotation>\n"                                                      // 9
      "<!-- trailing comment -->\n<?trailing pi?>\n";
  const XmlElement root = parse_xml(text, "t.xml");
  EXPECT_EQ(root.name, "annotation");
  EXPECT_EQ(root.line, 6);
  ASSERT_EQ(root.children.size(), 3u);
  EXPECT_EQ(root.children[0].name, "empty");
  EXPECT_EQ(root.children[0].line, 8);
  EXPECT_EQ(root.children[1].attributes.at(0).second, "v");
  EXPECT_EQ(root.children[2].text, "");
}

TEST(Xml, LoneCarriageReturnsCountAsLineEnds) {
  const XmlElement root = parse_xml("<a>\r<b/>\r\n<c/>\n<d>x\ry</d></a>", "t.xml");
  EXPECT_EQ(root.children[0].line, 2);
  EXPECT_EQ(root.children[1].line, 3);
  EXPECT_EQ(root.children[2].line, 4);
  EXPECT_EQ(root.children[2].text, "x\ny");
}

TEST(Xml, DepthLimit) {
  std::string ok;
  for (int i = 0; i < 256; ++i) ok += "<a>";
  for (int i = 0; i < 256; ++i) ok += "</a>";
  EXPECT_NO_THROW(parse_xml(ok, "t.xml"));

  std::string bomb;
  for (int i = 0; i < 100000; ++i) bomb += "<a>\n";
  expect_xml_error(bomb, 257, "nested deeper than 256");
  std::string self_closing = "<a>" + std::string();
  for (int i = 0; i < 255; ++i) self_closing += "<a>";
  self_closing += "<a/>";  // the 257th level, even if empty
  expect_xml_error(self_closing, 1, "nested deeper than 256");
}

TEST(Xml, MalformedDocumentsThrowWithLine) {
  expect_xml_error("<annotation>\n<bndbox>\n<xmin>1</xmin>\n</object>\n</annotation>", 4,
                   "expected </bndbox>, found </object>");
  expect_xml_error("<annotation>\n<object>\n<name>x</name>", 3,
                   "unexpected end of file inside <object> (opened at line 2)");
  expect_xml_error("<annotation>\n<object>\n<name>x</name>\n", 4, "inside <object> (opened at line 2)");
  expect_xml_error("<a/>\n<b/>", 2, "second root element <b>");
  expect_xml_error("<a></a>\n\ntrailing", 3, "unexpected 't' after the root element <a>");
  expect_xml_error("this is not xml", 1, "expected '<' to start the root element, found 't'");
  expect_xml_error("\x01\x02\xff", 1, "found byte 0x01");
  expect_xml_error("", 1, "empty file");
  expect_xml_error("\xEF\xBB\xBF \r\n\t", 1, "empty file");
  expect_xml_error("<?xml version='1.0'?>\n<!-- only a comment -->\n", 3, "no root element");
  expect_xml_error("<a>\n<!-- never closed\n\n</a>", 4, "end of file inside a comment '<!--' (opened at line 2)");
  expect_xml_error("<a>\n<![CDATA[ never closed", 2, "inside a CDATA section (opened at line 2)");
  expect_xml_error("<?xml version='1.0'", 1, "inside a processing instruction");
  expect_xml_error("<!DOCTYPE a [\n", 2, "inside <!DOCTYPE (opened at line 1)");
  expect_xml_error("<a b=\"never closed>\n<c/>\n</a>", 2, "'<' inside the value of attribute 'b'");
  expect_xml_error("<a\nb='never closed", 2, "end of file inside the value of attribute 'b' (opened at line 2)");
  expect_xml_error("<a b=c/>", 1, "must be in quotes");
  expect_xml_error("<a b/>", 1, "expected '=' after attribute 'b'");
  expect_xml_error("<a b='1' b='2'/>", 1, "duplicate attribute 'b'");
  expect_xml_error("<a b='1'c='2'/>", 1, "unexpected 'c' in the tag <a>");
  expect_xml_error("<a\n\n", 3, "end of file inside the tag <a (opened at line 1)");
  expect_xml_error("<a>\n&nbsp;</a>", 2, "unknown entity '&nbsp;'");
  expect_xml_error("<a>fish & chips</a>", 1, "'&' is not followed by an entity name");
  expect_xml_error("<a>&#0;</a>", 1, "invalid character reference '&#0;'");
  expect_xml_error("<a>&#xD800;</a>", 1, "invalid character reference");
  expect_xml_error("<a>&#99999999999999;</a>", 1, "invalid character reference");
  expect_xml_error("<a>&#x;</a>", 1, "invalid character reference");
  expect_xml_error("<a>&#12a;</a>", 1, "invalid character reference");
  expect_xml_error("<a>\n< b/></a>", 2, "expected a tag name after '<', found a space");
  expect_xml_error("<a></ a>", 1, "expected a tag name after '</'");
  expect_xml_error("<a></a x>", 1, "expected '>' to end </a");
  expect_xml_error("</a>", 1, "expected a tag name after '<', found '/'");
  expect_xml_error("<a><!DOCTYPE x></a>", 1, "unexpected '<!' markup inside <a>");
  expect_xml_error("<a/><!DOCTYPE a>", 1, "<!DOCTYPE after the root element");
}

// Random damage to a valid file must end in a parse or a yolonas::Error: never a crash, a hang, or
// another exception type (std::out_of_range from a substr, say).
TEST(Xml, RandomMutationsParseOrThrowError) {
  const std::string base = real_voc_file();
  const std::string interesting = "<>/&;#x\"'=!?[]-\r\n \xEF\xBB\xBF";
  std::mt19937 rng(12345);
  int parsed = 0, rejected = 0;
  auto check = [&](const std::string& text) {
    std::vector<DatasetIssue> issues;
    try {
      parse_voc_xml(text, "fuzz.xml", issues);
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "non-yolonas exception " << e.what() << " for input:\n" << text;
    }
  };
  for (int iter = 0; iter < 4000; ++iter) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < edits && !s.empty(); ++k) {
      const size_t at = rng() % s.size();
      switch (rng() % 5) {
        case 0: s[at] = static_cast<char>(rng() % 256); break;
        case 1: s.insert(at, 1, interesting[rng() % interesting.size()]); break;
        case 2: s.erase(at, 1 + rng() % 16); break;
        case 3: s.insert(at, s.substr(rng() % s.size(), 1 + rng() % 40)); break;
        case 4: s.resize(at); break;
      }
    }
    check(s);
  }
  for (int iter = 0; iter < 1000; ++iter) {  // pure noise, biased towards markup characters
    std::string s(rng() % 200, ' ');
    for (char& c : s) c = rng() % 2 ? interesting[rng() % interesting.size()] : static_cast<char>(rng() % 256);
    check(s);
  }
  for (size_t n = 0; n <= base.size(); ++n) check(base.substr(0, n));  // every truncation
  EXPECT_GT(parsed, 100);
  EXPECT_GT(rejected, 1000);
}

// ---------------------------------------------------------------------------------------------
// VOC
// ---------------------------------------------------------------------------------------------

TEST(Voc, ReadsRealLookingFile) {
  std::vector<DatasetIssue> issues;
  const VocAnnotation a = parse_voc_xml(real_voc_file(), "Annotations/000005.xml", issues);
  EXPECT_TRUE(issues.empty());
  EXPECT_EQ(a.path, "Annotations/000005.xml");
  EXPECT_EQ(a.folder, "VOC2007");
  EXPECT_EQ(a.filename, "000005.jpg");
  EXPECT_EQ(a.width, 500);
  EXPECT_EQ(a.height, 375);
  EXPECT_EQ(a.depth, 3);
  ASSERT_EQ(a.objects.size(), 2u);
  const VocObject& chair = a.objects[0];
  EXPECT_EQ(chair.name, "chair");
  EXPECT_EQ(chair.xmin, 263);
  EXPECT_EQ(chair.ymin, 211);
  EXPECT_EQ(chair.xmax, 324);
  EXPECT_EQ(chair.ymax, 339);
  EXPECT_FALSE(chair.difficult);
  EXPECT_FALSE(chair.truncated);
  EXPECT_EQ(chair.line, 15);
  const VocObject& person = a.objects[1];
  EXPECT_EQ(person.name, "person");  // trimmed
  EXPECT_EQ(person.xmin, 273.5);
  EXPECT_EQ(person.ymin, 1);
  EXPECT_EQ(person.xmax, 499.25);
  EXPECT_EQ(person.ymax, 375);
  EXPECT_TRUE(person.difficult);
  EXPECT_TRUE(person.truncated);
  EXPECT_EQ(person.line, 27);
}

TEST(Voc, MalformedObjectsAreDroppedAndReported) {
  const std::string text =
      "<annotation>\n"                                                                            // 1
      "<object><name>dog</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>\n"
      "<object><pose>Left</pose><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>\n"
      "<object>\n  <name>  </name>\n</object>\n"                                                  // 4-6
      "<object><name>cat</name><truncated>1</truncated></object>\n"                               // 7
      "<object><name>cow</name>\n<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax></bndbox></object>\n"  // 8-9
      "<object><name>cow</name><bndbox>\n<xmin>abc</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>\n"
      "<object><name>cow</name><bndbox><xmin>1</xmin><ymin></ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>\n"
      "<object><name>cow</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>inf</xmax><ymax>4</ymax></bndbox></object>\n"
      "<object><name>bird</name><difficult>1</difficult>\n"                                       // 14
      "<bndbox><xmin>5</xmin><ymin>6</ymin><xmax>70.5</xmax><ymax>80</ymax></bndbox></object>\n"
      "</annotation>\n";
  std::vector<DatasetIssue> issues;
  const VocAnnotation a = parse_voc_xml(text, "x.xml", issues);
  ASSERT_EQ(a.objects.size(), 2u);
  EXPECT_EQ(a.objects[0].name, "dog");
  EXPECT_EQ(a.objects[0].line, 2);
  EXPECT_EQ(a.objects[1].name, "bird");
  EXPECT_EQ(a.objects[1].line, 14);
  EXPECT_TRUE(a.objects[1].difficult);
  EXPECT_EQ(a.objects[1].xmax, 70.5);

  struct Expected {
    int line;
    std::string what;
  };
  const std::vector<Expected> expected = {
      {3, "<object> has no <name>"},
      {5, "<object> has an empty <name>"},
      {7, "<object> 'cat' has no <bndbox>"},
      {9, "<bndbox> of 'cow' has no <ymax>"},
      {11, "<xmin> of 'cow' is not a number: 'abc'"},
      {12, "<ymin> of 'cow' is not a number: ''"},
      {13, "<xmax> of 'cow' is not a number: 'inf'"},
  };
  ASSERT_EQ(issues.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(issues[i].str());
    EXPECT_EQ(issues[i].file, "x.xml");
    EXPECT_EQ(issues[i].kind, IssueKind::BadRow);
    EXPECT_EQ(issues[i].line, expected[i].line);
    EXPECT_EQ(issues[i].message, expected[i].what);
  }
  EXPECT_EQ(issues[4].str(), "x.xml:11: bad_row: <xmin> of 'cow' is not a number: 'abc'");
}

TEST(Voc, SizeAndFlagsDefaults) {
  std::vector<DatasetIssue> issues;
  VocAnnotation a = parse_voc_xml("<annotation><object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                                  "<xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>",
                                  "s.xml", issues);
  EXPECT_EQ(a.folder, "");
  EXPECT_EQ(a.filename, "");
  EXPECT_EQ(a.width, 0);
  EXPECT_EQ(a.height, 0);
  EXPECT_EQ(a.depth, 0);
  ASSERT_EQ(a.objects.size(), 1u);
  EXPECT_FALSE(a.objects[0].difficult);
  EXPECT_FALSE(a.objects[0].truncated);

  a = parse_voc_xml("<annotation><size><width>-5</width><height>abc</height><depth>2.5</depth></size></annotation>",
                    "s.xml", issues);
  EXPECT_EQ(a.width, 0);
  EXPECT_EQ(a.height, 0);
  EXPECT_EQ(a.depth, 0);
  a = parse_voc_xml("<annotation><size><width>640.0</width><height> 480 </height><depth>0</depth></size></annotation>",
                    "s.xml", issues);
  EXPECT_EQ(a.width, 640);
  EXPECT_EQ(a.height, 480);
  EXPECT_EQ(a.depth, 0);
  EXPECT_TRUE(a.objects.empty());
  EXPECT_TRUE(issues.empty());
}

TEST(Voc, PartsInsideAnObjectAreNotObjects) {
  // VOC person layout: <part>s carry their own <name> and <bndbox>; they belong to the person.
  std::vector<DatasetIssue> issues;
  const VocAnnotation a = parse_voc_xml(
      "<annotation><object><name>person</name>"
      "<part><name>head</name><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>6</xmax><ymax>6</ymax></bndbox></part>"
      "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object></annotation>",
      "p.xml", issues);
  ASSERT_EQ(a.objects.size(), 1u);
  EXPECT_EQ(a.objects[0].name, "person");
  EXPECT_EQ(a.objects[0].xmax, 30);
  EXPECT_TRUE(issues.empty());
}

TEST(Voc, WrongRootOrBrokenXmlThrowsWithFileAndLine) {
  std::vector<DatasetIssue> issues;
  try {
    parse_voc_xml("<?xml version='1.0'?>\n<svg></svg>", "r.xml", issues);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "r.xml:2: root element is <svg>, expected <annotation> (not a Pascal VOC annotation)");
  }
  try {
    parse_voc_xml("<annotation>\n<object>\n<bndbox>\n</object>\n</annotation>", "r.xml", issues);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "r.xml:4: expected </bndbox>, found </object>");
  }
}

TEST(Voc, ReadsFileFromDisk) {
  TempDir tmp;
  const std::string path = (tmp.path / "000005.xml").string();
  {
    std::ofstream out(path, std::ios::binary);
    out << "\xEF\xBB\xBF" << real_voc_file();
  }
  std::vector<DatasetIssue> issues;
  const VocAnnotation a = read_voc_xml(path, issues);
  EXPECT_EQ(a.path, path);
  EXPECT_EQ(a.filename, "000005.jpg");
  ASSERT_EQ(a.objects.size(), 2u);
  EXPECT_EQ(a.objects[1].line, 27);
  EXPECT_TRUE(issues.empty());

  const std::string missing = (tmp.path / "nope.xml").string();
  try {
    read_voc_xml(missing, issues);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot open VOC annotation '" + missing + "'");
  }
}

TEST(Voc, ClassNames) {
  const std::vector<std::string>& names = voc_class_names();
  ASSERT_EQ(names.size(), 20u);
  EXPECT_EQ(names.front(), "aeroplane");
  EXPECT_EQ(names[4], "bottle");
  EXPECT_EQ(names[10], "diningtable");
  EXPECT_EQ(names[14], "person");
  EXPECT_EQ(names.back(), "tvmonitor");
}
