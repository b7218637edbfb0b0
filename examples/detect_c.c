/* The C API: detect objects in a raw BGR image file (width x height x 3 bytes) or in a synthetic
 * test card, with a model file. Build: cmake --build build --target detect_c
 *   build/examples/detect_c MODEL.ynas [RAW_BGR WIDTH HEIGHT]
 */
#include <stdio.h>
#include <stdlib.h>

#include "yolonas/runtime/c_api.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 5) {
    fprintf(stderr, "usage: %s MODEL.ynas [RAW_BGR WIDTH HEIGHT]\n", argv[0]);
    return 2;
  }
  char err[512];
  yolonas_detector* det = yolonas_load(argv[1], 0, err, sizeof err);
  if (!det) {
    fprintf(stderr, "error: %s\n", err);
    return 1;
  }
  int w = 320, h = 240;
  unsigned char* pixels;
  if (argc == 5) {
    w = atoi(argv[3]);
    h = atoi(argv[4]);
    pixels = malloc((size_t)w * h * 3);
    FILE* f = fopen(argv[2], "rb");
    if (!f || fread(pixels, 1, (size_t)w * h * 3, f) != (size_t)w * h * 3) {
      fprintf(stderr, "error: cannot read %d x %d x 3 bytes from %s\n", w, h, argv[2]);
      return 1;
    }
    fclose(f);
  } else {
    pixels = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; ++i) pixels[i] = (unsigned char)((i / 3) % w);  /* a grey ramp */
  }
  printf("%s\n", yolonas_describe(det));
  yolonas_detection d[100];
  const int n = yolonas_detect(det, pixels, w, h, w * 3, YOLONAS_BGR, -1.0f, -1.0f, d, 100, err, sizeof err);
  if (n < 0) {
    fprintf(stderr, "error: %s\n", err);
    return 1;
  }
  for (int i = 0; i < n && i < 100; ++i)
    printf("%s %.3f %.1f %.1f %.1f %.1f\n", yolonas_class_name(det, d[i].class_id), d[i].score, d[i].x1, d[i].y1,
           d[i].x2, d[i].y2);
  printf("%d detections\n", n);
  free(pixels);
  yolonas_free(det);
  return 0;
}
