// Ultralytics-style key=value arguments: parsing, typed getters, and the errors a user sees.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "yolonas/core/args.h"
#include "yolonas/core/error.h"

using yolonas::Args;
using yolonas::Error;

namespace {

Args tokens(const std::vector<std::string>& t, const std::string& mode = "predict") {
  return Args::from_tokens(mode, t);
}

// Runs `f`, expects a yolonas::Error whose message contains every string in `needles`.
template <typename F>
void expect_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no yolonas::Error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

}  // namespace

TEST(Args, ParsesModeAndKeyValuePairsFromArgv) {
  const char* argv[] = {"yolonas", "predict", "model=yolo_nas_s", "source=img.jpg", "conf=0.3", "imgsz=320"};
  const Args a = Args::parse(6, argv);
  EXPECT_EQ(a.mode(), "predict");
  EXPECT_TRUE(a.has("model"));
  EXPECT_FALSE(a.has("iou"));
  EXPECT_EQ(a.str("model", ""), "yolo_nas_s");
  EXPECT_EQ(a.str("source", ""), "img.jpg");
  EXPECT_DOUBLE_EQ(a.real("conf", 0.25), 0.3);
  EXPECT_EQ(a.integer("imgsz", 640), 320);
  EXPECT_EQ(a.values().size(), 4u);
}

TEST(Args, MissingKeysGiveDefaults) {
  const Args a = tokens({});
  EXPECT_EQ(a.str("model", "yolo_nas_s"), "yolo_nas_s");
  EXPECT_FALSE(a.opt_str("model").has_value());
  EXPECT_EQ(a.integer("imgsz", 640), 640);
  EXPECT_DOUBLE_EQ(a.real("iou", 0.7), 0.7);
  EXPECT_TRUE(a.boolean("save", true));
  EXPECT_TRUE(a.int_list("classes").empty());
}

TEST(Args, ModeOnlyArgv) {
  const char* argv[] = {"yolonas", "val"};
  const Args a = Args::parse(2, argv);
  EXPECT_EQ(a.mode(), "val");
  EXPECT_TRUE(a.values().empty());
}

TEST(Args, ValueMayContainEqualsAndSetOverrides) {
  Args a = tokens({"name=a=b", "project=runs/x"});
  EXPECT_EQ(a.str("name", ""), "a=b");  // split at the first '='
  a.set("project", "runs/y");
  EXPECT_EQ(a.str("project", ""), "runs/y");
  ASSERT_TRUE(a.opt_str("project").has_value());
  EXPECT_EQ(*a.opt_str("project"), "runs/y");
}

TEST(Args, LeadingDashesAreIgnored) {
  const Args a = tokens({"--conf=0.5"});
  EXPECT_TRUE(a.has("conf"));
  EXPECT_DOUBLE_EQ(a.real("conf", 0.25), 0.5);
}

TEST(Args, TokenWithoutEqualsIsRejected) {
  expect_error([] { tokens({"conf"}); }, {"conf", "key=value"});
  expect_error([] { tokens({"=0.3"}); }, {"=0.3"});
  const char* argv[] = {"yolonas", "predict", "model=yolo_nas_s", "img.jpg"};
  expect_error([&] { Args::parse(4, argv); }, {"img.jpg"});
}

TEST(Args, DuplicateKeyIsRejected) { expect_error([] { tokens({"conf=0.3", "conf=0.4"}); }, {"conf"}); }

TEST(Args, BadIntegerNamesTheKey) {
  for (const std::string bad : {"abc", "3.5", "", "12x", "99999999999"}) {
    const Args a = tokens({"batch=" + bad});
    expect_error([&] { a.integer("batch", 1); }, {"batch"});
  }
  EXPECT_EQ(tokens({"batch=-4"}).integer("batch", 1), -4);
}

TEST(Args, BadRealNamesTheKey) {
  for (const std::string bad : {"abc", "0.3x", "", "1e999"}) {
    const Args a = tokens({"conf=" + bad});
    expect_error([&] { a.real("conf", 0.25); }, {"conf"});
  }
  EXPECT_DOUBLE_EQ(tokens({"conf=1e-3"}).real("conf", 0.25), 1e-3);
  EXPECT_DOUBLE_EQ(tokens({"conf=5"}).real("conf", 0.25), 5.0);
}

TEST(Args, BooleanSpellings) {
  for (const std::string t : {"true", "True", "TRUE", "1", "yes", "on"})
    EXPECT_TRUE(tokens({"save=" + t}).boolean("save", false)) << t;
  for (const std::string f : {"false", "False", "0", "no", "off"})
    EXPECT_FALSE(tokens({"save=" + f}).boolean("save", true)) << f;
  const Args a = tokens({"save=maybe"});
  expect_error([&] { a.boolean("save", false); }, {"save", "maybe"});
}

TEST(Args, IntListAcceptsPlainAndBracketedForms) {
  EXPECT_EQ(tokens({"classes=0,2,5"}).int_list("classes"), (std::vector<int>{0, 2, 5}));
  EXPECT_EQ(tokens({"classes=[0, 2, 5]"}).int_list("classes"), (std::vector<int>{0, 2, 5}));
  EXPECT_EQ(tokens({"classes=7"}).int_list("classes"), (std::vector<int>{7}));
  EXPECT_EQ(tokens({"classes=[]"}).int_list("classes"), std::vector<int>{});
  const Args a = tokens({"classes=0,x,5"});
  expect_error([&] { a.int_list("classes"); }, {"classes"});
}

TEST(Args, CheckKnownRejectsUnknownKeys) {
  const Args ok = tokens({"conf=0.3", "model=yolo_nas_s"});
  EXPECT_NO_THROW(ok.check_known({"model", "conf", "iou"}));
  const Args typo = tokens({"cnof=0.3", "model=yolo_nas_s"});
  expect_error([&] { typo.check_known({"model", "conf", "iou"}); }, {"cnof", "predict", "conf"});
  const Args two = tokens({"cnof=0.3", "ioo=0.5"});
  expect_error([&] { two.check_known({"conf", "iou"}); }, {"cnof", "ioo"});
}
