// yolonas command line: `yolonas MODE key=value ...` (Ultralytics grammar).
#include <exception>
#include <iostream>
#include <string>

#include "commands.h"
#include "yolonas/core/error.h"

namespace {

const char* kUsage = R"(yolonas - native C++ YOLO-NAS (SuperGradients-compatible)

usage: yolonas MODE key=value ...

modes:
  predict     detect objects in images, folders, globs, videos or a camera
              source=IMG|DIR|GLOB|VIDEO|0  model=yolo_nas_s|yolo_nas_m|yolo_nas_l|ARCH.yaml  weights=PATH
              conf=0.25 iou=0.7 imgsz=640 max_det=300 classes=0,2 agnostic=false batch=1 fuse=full
              augment=false (test-time augmentation: true = as is, 0.83 mirrored, 0.67, merged by the NMS;
              flip = as is and mirrored, averaged anchor by anchor; also val, autolabel)
              save=true save_txt=false save_conf=false save_json=false show=false
              project=runs/detect name=predict exist_ok=false threads=0 ema=true random_init=false
              device=cpu|cuda|cuda:N|N (predict, val, train, benchmark; a GPU needs a CUDA LibTorch build)
              engine=auto|onednn|int8|libtorch (auto: the oneDNN runtime on the CPU with fuse=full;
              int8: quantized, calib=DIR|GLOB|data.yaml gives the calibration images;
              calib_method=max|percentile|mse percentile=99.99 int8_heads=true int8_select=false int8_budget=)
              (no model= and no weights=: the built-in default model, models/yolonas_default.pth)
  val         COCO mAP of a model on a dataset, or of an existing predictions file
              model=... weights=... data=data.yaml|DIR|instances.json split=val conf=0.001 iou=0.7
              imgsz=640 batch=8 save_json=true metric=coco|sg|both   |   gt=instances.json pred=predictions.json
  train       train or fine-tune on a YOLO, COCO json or Pascal VOC dataset (docs/DATASETS.md)
              data=data.yaml|COCO_DIR|VOC_DIR model=yolo_nas_s|ARCH.yaml weights=PATH epochs=100 batch=16 imgsz=640
              lr0=5e-4 optimizer=AdamW|Adam|SGD workers=1 seed=42 preset=finetune|coco resume=true|PATH
              freeze=backbone accumulate=1 clip_grad=0 ema=true cache=ram strict=true mosaic= mosaic_prob= mixup= hsv= ...
              warmup_mode=epoch|batch warmup_epochs=3 warmup_steps=1000 warmup_initial_lr=1e-6 match_names=true
              val_period=1 patience=0 (>0: stop after that many validations without a better mAP50-95)
              average_best_models=true|false|N (SG's: weights/average_model.pth, the mean of the 10 (N)
              best epochs' weights by mAP50-95, validated at the end)
              amp=auto|true|false amp_dtype=auto|fp16|bf16 (mixed precision; auto: on for CUDA)
              teacher=PATH kd_weight=1 kd_temperature=1 (knowledge distillation from a trained model)
              multi_scale=false|true|N (every 10 batches resized to imgsz +- up to N x 32; true = SG's 5)
              ignore_regions=false (true: no classification loss on background anchors inside ignored
              boxes: autolabel's ignore/ files, COCO crowd, VOC difficult)
              qat=true weights=TRAINED.pth epochs=10 lr0=5e-5 (quantization-aware fine-tuning of the fused
              graph on its INT8 scale plan: writes weights/best.ynas, an INT8 model file; calib_method= int8_heads=
              calib_images=32)
              nproc=N (N local processes) | world_size= rank= local_rank= master_addr= master_port= (or
              torchrun's WORLD_SIZE RANK LOCAL_RANK MASTER_ADDR MASTER_PORT) sync_bn=false (docs/DISTRIBUTED.md)
  check-data  validate a dataset: data=data.yaml|COCO_DIR|VOC_DIR|instances.json split=train,val strict=true
  synth       synthetic YOLO dataset from Debian images: out=DIR n_train=2000 n_val=300 imgsz=640
              classes=dog,cow seed=0 workers=2 photo=true (list=true shows the classes)
  export      weights=PATH format=pth|onnx|ynas|triton out=PATH (weights=A,B,...: their average, a model soup):
              weights-only checkpoint with metadata, ONNX
              (opset 13, fused, box decode inside; imgsz=640 batch=0 for a dynamic batch; nms=true half=true;
              with nms=true: conf iou top_k=1024 (candidates per image) max_det=300 (per image)),
              the runtime's model file (int8=true calib=...), or a Triton model repository
              (format=triton out=REPO name= max_batch=8 instances=1 device=cpu|cuda)
  benchmark   speed and memory of the LibTorch paths and the oneDNN runtime (FP32, INT8)
              model=yolo_nas_s weights=PATH imgsz=640 batches=1,8 threads=1,2 iters=5 warmup=1 fuse=none,partial,full
              engine=libtorch,onednn (default; also int8)
              half=true (float16 LibTorch inference on CUDA) profile=true (time per op kind)
              data=data.yaml split=val calib=...: accuracy beside speed (mAP50-95, mAP50, drop vs FP32)
              train=true data=data.yaml batch=8 workers=1 device= amp=: training pipeline vs raw forward+backward
  serve       HTTP server with a web page: POST /v1/detect, GET /v1/models /healthz /metrics, page at /
              model=... weights=... engine=... host=127.0.0.1 port=8080 max_batch=8 max_wait_ms=5 max_queue=64
              max_body_mb=20 max_pixels=64e6 timeout_ms=30000 http_threads=32 grace_ms=30000 (docs/SERVING.md)
  autolabel   pseudo-label images and videos with a teacher into a YOLO dataset (scores, summary, preview)
              model=... weights=... source=DIR|GLOB|VIDEO out=DATASET conf=0.5|0.4,person:0.6 classes=...
              rename=truck:vehicle min_size=4 vid_stride=30 dedup=0.97 val=0.1 seed=0 keep_empty=true
              ignore_conf= (below conf: boxes scored in [ignore_conf, conf) go to ignore/, ignore regions)
  help        this text

Outputs go to runs/detect/<mode>N/ (project= and name= choose another folder).
Weights are never downloaded: pass weights=PATH to an SG .pth or a yolonas checkpoint.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "help" || std::string(argv[1]) == "--help" ||
      std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  try {
    const yolonas::Args args = yolonas::Args::parse(argc, argv);
    const std::string& mode = args.mode();
    if (mode == "predict") return yolonas::cli::cmd_predict(args);
    if (mode == "val") return yolonas::cli::cmd_val(args);
    if (mode == "train") return yolonas::cli::cmd_train(args);
    if (mode == "check-data") return yolonas::cli::cmd_check_data(args);
    if (mode == "synth") return yolonas::cli::cmd_synth(args);
    if (mode == "export") return yolonas::cli::cmd_export(args);
    if (mode == "benchmark") return yolonas::cli::cmd_benchmark(args);
    if (mode == "serve") return yolonas::cli::cmd_serve(args);
    if (mode == "autolabel") return yolonas::cli::cmd_autolabel(args);
    std::cerr << "error: unknown mode '" << mode
              << "' (expected predict, val, train, check-data, synth, export, benchmark, serve, autolabel, help)\n";
    return 2;
  } catch (const yolonas::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: internal: " << e.what() << "\n";
    return 1;
  }
}
