"""The data sample of one restoration example."""
from mmengine.structures import BaseDataElement


class RestorationDataSample(BaseDataElement):
    """One example's ground truth, predictions and meta information.

    Data fields (tensors, see ``docs/conventions.md``): ``gt_img`` uint8 (3, H, W) RGB,
    ``gt_gray`` uint8 (1, H, W), ``mask`` uint8 (1, H, W) with 1 = damaged; predictions
    ``pred_img`` uint8 (3, H, W), ``pred_gray`` uint8 (1, H, W) and ``pred_mask`` uint8 (1, H, W).
    Meta fields: ``img_path``, ``gt_path``, ``ori_shape``, ``sample_idx``.

    Follows mmengine's :class:`~mmengine.structures.BaseDataElement` design (as mmagic's
    ``DataSample``): fields are set as attributes and ``to_dict`` hands them to metrics.
    """
