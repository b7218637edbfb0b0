/* The C API of the yolonas runtime (libyolonas_rt.so): load a model file (.ynas) and detect objects
 * in 8-bit images, from C or any language with a C FFI. No LibTorch, no C++ types.
 *
 *   char err[256];
 *   yolonas_detector* det = yolonas_load("model.ynas", 0, err, sizeof err);
 *   if (!det) { fprintf(stderr, "%s\n", err); return 1; }
 *   yolonas_detection d[100];
 *   int n = yolonas_detect(det, pixels, width, height, width * 3, YOLONAS_BGR, -1, -1, d, 100, err, sizeof err);
 *   for (int i = 0; i < n; ++i) printf("%s %.2f\n", yolonas_class_name(det, d[i].class_id), d[i].score);
 *   yolonas_free(det);
 *
 * Errors: functions return NULL or -1 and write a message (naming the file and the problem) to
 * `err` when it is not NULL. yolonas_detect may be called from several threads on one detector.
 */
#ifndef YOLONAS_C_API_H
#define YOLONAS_C_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct yolonas_detector yolonas_detector;

typedef struct {
  float x1, y1, x2, y2; /* original-image pixels */
  float score;
  int class_id;
} yolonas_detection;

enum { YOLONAS_BGR = 0, YOLONAS_RGB = 1, YOLONAS_GRAY = 2, YOLONAS_BGRA = 3 };

/* threads: OpenMP threads for the whole process (0 = all cores). */
yolonas_detector* yolonas_load(const char* model_file, int threads, char* err, size_t err_size);
void yolonas_free(yolonas_detector* det);

/* pixels: height rows of `stride` bytes, `format` one of the YOLONAS_* layouts. conf / iou < 0:
 * the model file's defaults. Writes up to max_out detections (best first) and returns how many were
 * found (which may exceed max_out), or -1 on error. */
int yolonas_detect(yolonas_detector* det, const uint8_t* pixels, int width, int height, int stride, int format,
                   float conf, float iou, yolonas_detection* out, int max_out, char* err, size_t err_size);

int yolonas_num_classes(const yolonas_detector* det);
/* The class's name, or NULL when class_id is out of range. Valid until yolonas_free. */
const char* yolonas_class_name(const yolonas_detector* det, int class_id);
/* Network input size. */
int yolonas_input_width(const yolonas_detector* det);
int yolonas_input_height(const yolonas_detector* det);
/* One line describing the model and the engine. Valid until yolonas_free. */
const char* yolonas_describe(const yolonas_detector* det);

#ifdef __cplusplus
}
#endif

#endif /* YOLONAS_C_API_H */
