// The Python module: `import yolonas`.
//
//   det = yolonas.Detector()                         # the built-in default model
//   det = yolonas.Detector("yolo_nas_s", weights="yolo_nas_s_coco.pth", engine="int8", calib="imgs/")
//   r = det.predict(img)                             # img: numpy HxWx3 uint8, BGR (rgb=True for RGB)
//   r.boxes (N,4 float32, x1 y1 x2 y2 pixels), r.scores (N,), r.classes (N, int64), r.names (N str)
//   yolonas.val(data="data.yaml", weights="best.pth")     -> dict of metrics (the CLI's keys)
//   yolonas.train(data="data.yaml", epochs=10)             -> dict (best/last weights, mAP)
// Keyword arguments are the CLI's keys (`yolonas help`); the GIL is released while the model runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <fstream>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "../cli/commands.h"
#include "yolonas/core/error.h"
#include "yolonas/detect/preprocess.h"

namespace py = pybind11;
using namespace yolonas;

namespace {

// A Python value as the CLI would spell it: True -> "true", [0, 2] -> "0,2".
std::string cli_value(const py::handle& v) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "" : ",") + cli_value(e);
    return s;
  }
  if (py::hasattr(v, "__fspath__")) return py::str(v.attr("__fspath__")()).cast<std::string>();
  return py::str(v).cast<std::string>();
}

Args args_from(const std::string& mode, const py::kwargs& kwargs) {
  std::vector<std::string> tokens;
  for (const auto& [k, v] : kwargs) {
    if (v.is_none()) continue;
    tokens.push_back(k.cast<std::string>() + "=" + cli_value(v));
  }
  return Args::from_tokens(mode, tokens);
}

struct Result {
  py::array_t<float> boxes;
  py::array_t<float> scores;
  py::array_t<int64_t> classes;
  py::list names;
  int width = 0, height = 0;
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;
};

Result to_python(const ImageResult& r, const std::vector<std::string>& class_names) {
  const py::ssize_t n = static_cast<py::ssize_t>(r.detections.size());
  Result out;
  out.boxes = py::array_t<float>({n, py::ssize_t{4}});
  out.scores = py::array_t<float>(n);
  out.classes = py::array_t<int64_t>(n);
  auto b = out.boxes.mutable_unchecked<2>();
  auto s = out.scores.mutable_unchecked<1>();
  auto c = out.classes.mutable_unchecked<1>();
  for (py::ssize_t i = 0; i < n; ++i) {
    const Detection& d = r.detections[i];
    b(i, 0) = d.x1, b(i, 1) = d.y1, b(i, 2) = d.x2, b(i, 3) = d.y2;
    s(i) = d.score;
    c(i) = d.cls;
    out.names.append(d.cls >= 0 && d.cls < static_cast<int>(class_names.size()) ? class_names[d.cls]
                                                                                 : std::to_string(d.cls));
  }
  out.width = r.letterbox.src_w;
  out.height = r.letterbox.src_h;
  out.preprocess_ms = r.preprocess_ms, out.inference_ms = r.inference_ms, out.postprocess_ms = r.postprocess_ms;
  return out;
}

// An image file, decoded as `yolonas predict` decodes it (EXIF orientation ignored, as SG's predict()).
cv::Mat load_image(const std::string& path) {
  cv::Mat m = read_image(path, Orientation::AsStored);
  if (m.empty()) throw Error(clip(path) + ": cannot read the image (missing, not a regular file, or not an image OpenCV decodes)");
  return to_bgr8(m);
}

// An image file as a numpy H x W x 3 uint8 BGR array.
py::array_t<uint8_t> imread(const std::string& path) {
  cv::Mat m;
  {
    py::gil_scoped_release release;
    m = load_image(path);
  }
  py::array_t<uint8_t> a({m.rows, m.cols, 3});
  for (int y = 0; y < m.rows; ++y) std::memcpy(a.mutable_data(y), m.ptr(y), static_cast<size_t>(m.cols) * 3);
  return a;
}

// A numpy image (or an image path) as a cv::Mat (a copy: the GIL is released while it is used).
// BGR, or RGB -> BGR.
cv::Mat to_mat(const py::handle& obj, bool rgb) {
  if (py::isinstance<py::str>(obj) || py::hasattr(obj, "__fspath__")) return load_image(cli_value(obj));
  if (!py::isinstance<py::array>(obj)) throw py::type_error("image: expected a numpy array (H x W x 3 uint8), got " +
                                                            py::str(py::type::of(obj)).cast<std::string>());
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<uint8_t>()))
    throw py::value_error("image: expected dtype uint8, got " + py::str(a.dtype()).cast<std::string>() +
                          " (convert with img.astype(numpy.uint8))");
  const int channels = a.ndim() == 2 ? 1 : a.ndim() == 3 ? static_cast<int>(a.shape(2)) : -1;
  if (channels != 1 && channels != 3 && channels != 4)
    throw py::value_error("image: expected shape H x W x 3 (or H x W, H x W x 4), got " + std::to_string(a.ndim()) +
                          " dimensions" + (a.ndim() == 3 ? " with " + std::to_string(a.shape(2)) + " channels" : ""));
  if (a.shape(0) < 1 || a.shape(1) < 1) throw py::value_error("image: empty");
  py::array_t<uint8_t, py::array::c_style | py::array::forcecast> c(a);
  const cv::Mat view(static_cast<int>(c.shape(0)), static_cast<int>(c.shape(1)), CV_8UC(channels),
                     const_cast<uint8_t*>(c.data()));
  cv::Mat m = view.clone();
  if (rgb && channels == 3) cv::cvtColor(m, m, cv::COLOR_RGB2BGR);
  if (rgb && channels == 4) cv::cvtColor(m, m, cv::COLOR_RGBA2BGRA);
  return m;
}

class PyDetector {
 public:
  PyDetector(const std::optional<std::string>& model, const py::kwargs& kwargs) {
    py::kwargs kw(kwargs);
    if (model) {
      const bool weights_file = model->size() > 4 && (model->substr(model->size() - 4) == ".pth" ||
                                                      model->substr(model->size() - 3) == ".pt");
      kw[weights_file ? "weights" : "model"] = *model;
    }
    for (const char* k : {"conf", "iou", "max_det", "classes", "agnostic"})
      if (kw.contains(k)) nms_keys_[k] = cli_value(kw[k]), kw.attr("pop")(k);
    Args args = args_from("predict", kw);
    args.check_known({"model", "weights", "imgsz", "threads", "ema", "random_init", "fuse", "device", "engine",
                      "calib", "calib_method", "percentile", "int8_select", "int8_budget", "augment"});
    const DetectorOptions o = cli::detector_options(args);
    py::gil_scoped_release release;
    det_ = std::make_unique<Detector>(Detector::load(o));
  }

  NmsParams nms_for(const py::object& conf, const py::object& iou, const py::object& classes,
                    const py::object& max_det) const {
    NmsParams p = det_->default_nms();
    auto pick = [&](const char* key, const py::object& v) -> std::optional<std::string> {
      if (!v.is_none()) return cli_value(v);
      auto it = nms_keys_.find(key);
      if (it != nms_keys_.end()) return it->second;
      return std::nullopt;
    };
    Args a;
    for (const auto& [k, v] : std::map<std::string, py::object>{{"conf", conf}, {"iou", iou}, {"classes", classes}, {"max_det", max_det}})
      if (auto s = pick(k.c_str(), v)) a.set(k, *s);
    if (auto s = pick("agnostic", py::none())) a.set("agnostic", *s);
    p.conf = static_cast<float>(a.real_in("conf", p.conf, 0, 1));
    p.iou = static_cast<float>(a.real_in("iou", p.iou, 0, 1));
    p.max_det = a.integer_in("max_det", p.max_det, 1, 100000);
    p.agnostic = a.boolean("agnostic", p.agnostic);
    if (a.has("classes")) p.classes = a.int_list("classes");
    for (int c : p.classes)
      if (c < 0 || c >= static_cast<int>(det_->names().size()))
        throw Error("classes: class " + std::to_string(c) + " does not exist (the model has " +
                    std::to_string(det_->names().size()) + " classes)");
    return p;
  }

  py::object predict(const py::object& images, bool rgb, const py::object& conf, const py::object& iou,
                     const py::object& classes, const py::object& max_det) {
    const NmsParams nms = nms_for(conf, iou, classes, max_det);
    const bool many = py::isinstance<py::list>(images) || py::isinstance<py::tuple>(images);
    std::vector<cv::Mat> mats;
    if (many)
      for (const auto& im : images) mats.push_back(to_mat(im, rgb));
    else
      mats.push_back(to_mat(images, rgb));
    std::vector<ImageResult> results;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lk(run_);  // one run at a time per detector (engines keep state)
      results = det_->predict(mats, nms);
    }
    if (!many) return py::cast(to_python(results.at(0), det_->names()));
    py::list out;
    for (const auto& r : results) out.append(to_python(r, det_->names()));
    return std::move(out);
  }

  const Detector& det() const { return *det_; }

 private:
  std::unique_ptr<Detector> det_;
  std::map<std::string, std::string> nms_keys_;
  std::mutex run_;
};

py::object read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(path + ": not written");
  std::stringstream ss;
  ss << f.rdbuf();
  return py::module_::import("json").attr("loads")(ss.str());
}

}  // namespace

PYBIND11_MODULE(yolonas, m) {
  m.doc() = "yolonas: native C++ YOLO-NAS (SuperGradients-compatible) — predict, val, train";
  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyErr_SetString(error.ptr(), e.what());  // what py::set_error (pybind11 >= 2.12) does; 2.10 lacks it
    }
  });

  py::class_<Result>(m, "Result", "Detections of one image, in original-image pixels, by descending score.")
      .def_readonly("boxes", &Result::boxes, "N x 4 float32: x1 y1 x2 y2")
      .def_readonly("scores", &Result::scores, "N float32")
      .def_readonly("classes", &Result::classes, "N int64 class ids")
      .def_readonly("names", &Result::names, "N class names")
      .def_readonly("width", &Result::width)
      .def_readonly("height", &Result::height)
      .def_readonly("preprocess_ms", &Result::preprocess_ms)
      .def_readonly("inference_ms", &Result::inference_ms)
      .def_readonly("postprocess_ms", &Result::postprocess_ms)
      .def("__len__", [](const Result& r) { return r.scores.size(); })
      .def("__repr__", [](const Result& r) {
        return "<yolonas.Result " + std::to_string(r.scores.size()) + " detections in " + std::to_string(r.width) +
               "x" + std::to_string(r.height) + ">";
      });

  py::class_<PyDetector>(m, "Detector",
                         "Detector(model=None, **keys): the built-in default model when model is None; model is a "
                         "variant (yolo_nas_s), an arch YAML, a .ynas model file or a .pth checkpoint. Keys as the "
                         "CLI's: weights, engine (auto|onednn|int8|bf16|libtorch), calib, threads, imgsz, conf, iou, "
                         "classes, max_det, agnostic.")
      .def(py::init<const std::optional<std::string>&, const py::kwargs&>(), py::arg("model") = py::none())
      .def("predict", &PyDetector::predict, py::arg("image"), py::arg("rgb") = false, py::arg("conf") = py::none(),
           py::arg("iou") = py::none(), py::arg("classes") = py::none(), py::arg("max_det") = py::none(),
           "image: numpy H x W x 3 uint8 (BGR; rgb=True for RGB), or a list of them (one batch). Returns a Result "
           "(a list for a list).")
      .def_property_readonly("names", [](const PyDetector& d) { return d.det().names(); })
      .def_property_readonly("imgsz", [](const PyDetector& d) {
        return py::make_tuple(d.det().preprocessing().input_h, d.det().preprocessing().input_w);
      })
      .def("__repr__", [](const PyDetector& d) { return "<yolonas.Detector " + d.det().describe() + ">"; })
      .def_property_readonly("description", [](const PyDetector& d) { return d.det().describe(); });

  m.def(
      "val",
      [](const py::kwargs& kwargs) {
        const Args args = args_from("val", kwargs);
        std::string dir;
        {
          py::gil_scoped_release release;
          cli::cmd_val(args, &dir);
        }
        py::dict out = read_json(dir + "/metrics.json");
        out["run_dir"] = dir;
        return out;
      },
      "val(**keys): `yolonas val` with the same keys; returns metrics.json as a dict (+ run_dir).");
  m.def(
      "train",
      [](const py::kwargs& kwargs) {
        const Args args = args_from("train", kwargs);
        cli::TrainOutcome r;
        {
          py::gil_scoped_release release;
          cli::cmd_train(args, &r);
        }
        py::dict out;
        out["run_dir"] = r.run_dir;
        out["best"] = r.best;
        out["last"] = r.last;
        out["average"] = r.average;
        out["epochs"] = r.epochs_done;
        out["best_map50_95"] = r.best_map50_95;
        out["best_map50"] = r.best_map50;
        out["stopped_early"] = r.stopped_early;
        return out;
      },
      "train(**keys): `yolonas train` with the same keys; returns the weights' paths and the best mAP.");
  m.def("imread", &imread, py::arg("path"), "An image file as a numpy H x W x 3 uint8 BGR array (decoded as `yolonas predict` does).");
  m.attr("__version__") = "0.1.0";
}
