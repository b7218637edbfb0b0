#include "yolonas/runtime/dnn_graph.h"

namespace yolonas {

const char* dnn_op_kind_name(DnnOpKind kind) {
  switch (kind) {
    case DnnOpKind::Conv: return "conv";
    case DnnOpKind::Deconv: return "deconv";
    case DnnOpKind::MaxPool: return "maxpool";
    case DnnOpKind::Concat: return "concat";
    case DnnOpKind::Sum: return "sum";
  }
  return "unknown";
}

}  // namespace yolonas
