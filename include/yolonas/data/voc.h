// Pascal VOC annotations: one xml file per image (<annotation> with <size> and <object>s, each a
// class <name> and a pixel <bndbox>), as written by the VOC devkit, labelImg, CVAT and Roboflow.
//
// The xml reader is written here rather than taken from a library: VOC files use a tiny subset of
// XML, and a dataset checker needs what general parsers tend not to give — the line of every element
// (so that a bad <object> can be reported as "file:line") and errors that name the file and line
// instead of a byte offset. It is also the only code that reads untrusted xml, so it is kept small
// enough to be read in full: it never recurses (nesting is limited to 256 levels) and fails with a
// yolonas::Error on anything it does not understand.
//
// Like the YOLO/COCO readers in dataset.h, a problem inside one <object> drops that object and is
// collected as a DatasetIssue; a file that is not well-formed, or not a VOC annotation, throws.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "yolonas/data/dataset.h"

namespace yolonas {

// ---------------------------------------------------------------------------------------------
// Minimal XML
// ---------------------------------------------------------------------------------------------

struct XmlElement {
  std::string name;
  std::string text;  // character data directly inside this element (CDATA included), entities
                     // decoded, trimmed of surrounding whitespace; children's text is not included
  int line = 0;      // 1-based line of the element's '<'
  std::vector<std::pair<std::string, std::string>> attributes;  // in source order, values decoded
  std::vector<XmlElement> children;

  const XmlElement* child(const std::string& name) const;  // first child with that name, or nullptr
};

// Parses a whole document with one root element. Understands the XML declaration and other
// processing instructions (skipped), comments, <!DOCTYPE ...> (skipped, internal subset included;
// entities it declares are not expanded), CDATA sections, attributes in ' or " quotes, self-closing
// tags, the five named entities and &#NN; / &#xNN; character references (stored as UTF-8), a UTF-8
// BOM and CRLF / CR line ends (normalized to "\n" as XML requires). Namespaces are not interpreted:
// "a:b" is just a name. Throws yolonas::Error "<source>:<line>: <what>", for example
// "a.xml:7: expected </bndbox>, found </object>".
XmlElement parse_xml(const std::string& text, const std::string& source);

// ---------------------------------------------------------------------------------------------
// Pascal VOC
// ---------------------------------------------------------------------------------------------

struct VocObject {
  std::string name;                               // class name, trimmed
  double xmin = 0, ymin = 0, xmax = 0, ymax = 0;  // as written in <bndbox> (VOC: 1-based pixels)
  bool difficult = false;                         // <difficult>1</difficult>
  bool truncated = false;                         // <truncated>1</truncated>
  int line = 0;                                   // line of the <object> element
};

struct VocAnnotation {
  std::string path;                       // the xml file read
  std::string folder, filename;           // <folder>, <filename> ("" when absent)
  int width = 0, height = 0, depth = 0;   // <size>; 0 when absent or not a positive integer
  std::vector<VocObject> objects;         // valid objects, in file order
};

// Reads one annotation. Throws yolonas::Error (naming file and line) when the file is not
// well-formed XML or its root is not <annotation>, and "cannot open VOC annotation '<path>'" when it
// does not exist (": it is a FIFO ...", ": it is 20.0 MB, more than the 16 MB limit" when it is no
// regular file or over kMaxLabelFileBytes). An <object> with a missing or empty <name>, no <bndbox>, or a missing or
// non-numeric xmin/ymin/xmax/ymax is dropped and reported in `issues` (BadRow, with the line of the
// offending element). Coordinates may be floats ("273.5"), as some exporters write them.
// <difficult>/<truncated> default to 0. Class names, box sizes and image bounds are not checked
// here: the caller knows the class list and the image.
VocAnnotation read_voc_xml(const std::string& path, std::vector<DatasetIssue>& issues);
VocAnnotation parse_voc_xml(const std::string& text, const std::string& path, std::vector<DatasetIssue>& issues);

// The 20 Pascal VOC classes in the standard order (aeroplane ... tvmonitor), as used by the devkit
// and by models trained on VOC: class index = position in this list.
const std::vector<std::string>& voc_class_names();

}  // namespace yolonas
