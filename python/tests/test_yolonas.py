"""The Python module (build/python/yolonas*.so) end to end: run by ctest as `python3 -m pytest`.

The module is the C++ library: these tests check the binding (arrays in and out, options, errors,
the GIL) and that val() and train() give what the CLI gives with the same keys.
"""
import json
import os
import subprocess
import threading
import time

import numpy as np
import pytest

import yolonas

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("YOLONAS_BINARY", os.path.join(REPO, "build", "yolonas"))
DOG = "/usr/share/darknet/data/dog.jpg"
SYNTH_VAL = os.path.join(REPO, "tests", "data", "synth_val", "data.yaml")
TINY_ARCH = os.path.join(REPO, "tests", "data", "tiny", "tiny_arch.json")

needs_dog = pytest.mark.skipif(not os.path.exists(DOG), reason="darknet's sample photos missing (apt-get install darknet)")


@pytest.fixture(scope="module")
def det():
    return yolonas.Detector(threads=2)


@needs_dog
def test_default_detector_gives_the_cli_predictions(det, tmp_path):
    subprocess.run([CLI, "predict", "source=" + DOG, "conf=0.1", "save=false", "save_json=true", "threads=2",
                    "project=" + str(tmp_path), "name=p"], check=True, capture_output=True)
    cli = json.load(open(tmp_path / "p" / "predictions.json"))
    r = det.predict(yolonas.imread(DOG), conf=0.1)
    assert len(r) == len(cli) > 0
    assert r.boxes.shape == (len(cli), 4) and r.boxes.dtype == np.float32
    assert r.scores.dtype == np.float32 and r.classes.dtype == np.int64
    assert (r.width, r.height) == (768, 576)
    for k, c in enumerate(cli):
        x, y, w, h = c["bbox"]
        np.testing.assert_allclose(r.boxes[k], [x, y, x + w, y + h], atol=2e-3)
        assert r.scores[k] == pytest.approx(c["score"], abs=1e-5)
        assert r.classes[k] == c["category_id"]
        assert r.names[k] == c["category_name"]
    assert list(r.scores) == sorted(r.scores, reverse=True)


@needs_dog
def test_augment_gives_the_cli_predictions(tmp_path):
    subprocess.run([CLI, "predict", "source=" + DOG, "conf=0.1", "save=false", "save_json=true", "threads=2",
                    "augment=true", "project=" + str(tmp_path), "name=p"], check=True, capture_output=True)
    cli = json.load(open(tmp_path / "p" / "predictions.json"))
    d = yolonas.Detector(threads=2, augment=True)
    assert "TTA: 1, 0.83 mirrored, 0.67" in d.description
    r = d.predict(yolonas.imread(DOG), conf=0.1)
    assert len(r) == len(cli) > 0
    for k, c in enumerate(cli):
        assert r.scores[k] == pytest.approx(c["score"], abs=1e-5)
        assert r.classes[k] == c["category_id"]


@needs_dog
def test_rgb_paths_lists_and_options(det):
    bgr = yolonas.imread(DOG)
    a = det.predict(bgr, conf=0.1)
    b = det.predict(np.ascontiguousarray(bgr[:, :, ::-1]), rgb=True, conf=0.1)
    c = det.predict(DOG, conf=0.1)             # a path
    d = det.predict(bgr[:, :, ::-1], conf=0.1)  # RGB passed as BGR: another image, other results
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.boxes, c.boxes)
    assert len(d) != len(a) or not np.array_equal(d.boxes, a.boxes)
    batch = det.predict([bgr, bgr[100:, 50:]], conf=0.1)
    assert isinstance(batch, list) and len(batch) == 2
    np.testing.assert_allclose(batch[0].boxes, a.boxes, atol=1e-2)
    crop = det.predict(np.ascontiguousarray(bgr[100:, 50:]), conf=0.1)
    assert len(batch[1]) == len(crop)
    only = det.predict(bgr, conf=0.1, classes=[int(a.classes[0])], max_det=3)
    assert 0 < len(only) <= 3 and set(only.classes) == {a.classes[0]}
    assert len(det.predict(bgr, conf=0.99)) < len(a)
    gray = det.predict(np.ascontiguousarray(bgr[:, :, 1]), conf=0.1)  # H x W works too
    assert gray.width == 768


def test_bad_input_raises_clear_errors(det):
    with pytest.raises(ValueError, match="uint8"):
        det.predict(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="channels"):
        det.predict(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(TypeError, match="numpy"):
        det.predict(42)
    with pytest.raises(yolonas.Error, match="no_such.jpg"):
        det.predict("/nonexistent/no_such.jpg")
    with pytest.raises(yolonas.Error, match="class 99"):
        det.predict(np.zeros((64, 64, 3), np.uint8), classes=[99])
    with pytest.raises(yolonas.Error, match="conf"):
        det.predict(np.zeros((64, 64, 3), np.uint8), conf=2)
    with pytest.raises(yolonas.Error, match="cnof"):
        yolonas.Detector(cnof=0.3)
    with pytest.raises(yolonas.Error, match="missing.pth"):
        yolonas.Detector("/nonexistent/missing.pth")
    assert issubclass(yolonas.Error, RuntimeError)


def test_gil_is_released_while_the_model_runs(det):
    img = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    det.predict(img)  # warm up
    ticks = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=count)
    t.start()
    time.sleep(0.05)
    before = ticks[0]
    start = time.perf_counter()
    for _ in range(3):
        det.predict(img)
    elapsed = time.perf_counter() - start
    during = ticks[0] - before
    stop.set()
    t.join()
    # With the GIL held for the whole predict the counter thread could not run at all while it ran
    # (switch interval 5 ms, predict tens of ms): it must have counted a lot.
    assert elapsed > 0.01
    assert during > 1000, f"only {during} ticks in {elapsed:.3f}s: the GIL looks held during predict"


def _metrics(path):
    with open(path) as f:
        return json.load(f)


def test_val_gives_the_cli_metrics(tmp_path):
    keys = {"data": SYNTH_VAL, "threads": 2, "plots": False, "project": str(tmp_path), "exist_ok": True}
    m = yolonas.val(name="py", **keys)
    assert m["run_dir"] == str(tmp_path / "py")
    subprocess.run([CLI, "val"] + [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in keys.items()]
                   + ["name=cli"], check=True, capture_output=True)
    cli = _metrics(tmp_path / "cli" / "metrics.json")
    assert m["num_images"] == cli["num_images"] == 24
    assert m["stats"] == cli["stats"]
    assert m["num_detections"] == cli["num_detections"]
    assert 0 < m["stats"][0] < 1  # COCO mAP50-95 of the default model on its synthetic val set
    with pytest.raises(yolonas.Error, match="nope.yaml"):
        yolonas.val(data=str(tmp_path / "nope.yaml"))


def test_train_then_load_the_weights(tmp_path):
    r = yolonas.train(data=SYNTH_VAL, model=TINY_ARCH, imgsz=128, epochs=1, batch=8, threads=1, workers=1,
                      plots=False, project=str(tmp_path), name="t", augment=False)
    assert r["epochs"] == 1
    assert os.path.exists(r["best"]) and os.path.exists(r["last"])
    assert r["average"] == os.path.join(r["run_dir"], "weights", "average_model.pth")  # SG's average_best_models
    assert yolonas.Detector(r["average"], threads=1).names == yolonas.Detector(r["best"], threads=1).names
    assert os.path.exists(os.path.join(r["run_dir"], "results.csv"))
    assert 0 <= r["best_map50_95"] <= 1
    d = yolonas.Detector(r["best"], threads=1)
    assert d.imgsz == (128, 128) and len(d.names) == 28  # synth_val uses the default model's 28 class names
    out = d.predict(np.zeros((100, 120, 3), np.uint8), conf=0.0001)
    assert out.boxes.shape[1] == 4
    with pytest.raises(yolonas.Error, match="epochs"):
        yolonas.train(data=SYNTH_VAL, epochs="many")
