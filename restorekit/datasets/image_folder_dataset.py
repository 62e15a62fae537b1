"""Any folder of clean colour photos as training data; the pipeline synthesises the damage."""
import os
from typing import List, Sequence

from restorekit.registry import DATASETS
from .base import BaseRestorationDataset

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff')


def list_images(folder: str,
                extensions: Sequence[str] = IMAGE_EXTENSIONS,
                recursive: bool = True) -> List[str]:
    """Image files under ``folder``, sorted by their path relative to it.

    Extensions match case-insensitively; hidden files and folders (``.name``, e.g. macOS
    ``._photo.jpg`` companions) are skipped; symbolic links to folders are not followed.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'image folder not found: {folder}')
    suffixes = tuple(ext.lower() for ext in extensions)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith('.')] if recursive else []
        found += [
            os.path.join(root, name) for name in files
            if not name.startswith('.') and name.lower().endswith(suffixes)
        ]
    return sorted(found, key=lambda path: os.path.relpath(path, folder).split(os.sep))


@DATASETS.register_module()
class ImageFolderDataset(BaseRestorationDataset):
    """Every image in ``data_root`` (recursively) becomes one clean training sample.

    Each data info has ``gt_path`` (the photo), ``img_path`` (the same file: the damaged input is
    synthesised from it, e.g. by ``ToGray`` + ``SynthesizeDamage``, and metrics and writers name
    results after it) and ``mask_path = None``. The order is sorted, hence the same on every
    machine; ``indices`` selects a split.

    Args:
        data_root: The folder of photos.
        pipeline: Transform configs or callables.
        extensions: File extensions to take, matched case-insensitively.
        recursive: Also search sub-folders.
        **kwargs: ``indices``, ``test_mode``, ``seed``, ``deterministic``... (see
            :class:`BaseRestorationDataset`).
    """

    def __init__(self,
                 data_root: str,
                 pipeline: Sequence = (),
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 recursive: bool = True,
                 **kwargs) -> None:
        self.extensions = tuple(extensions)
        self.recursive = recursive
        super().__init__(data_root=data_root, ann_file='', pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One data info per image file."""
        paths = list_images(self.data_root, self.extensions, self.recursive)
        if not paths:
            where = 'its sub-folders included' if self.recursive else 'top level only'
            raise ValueError(f'image folder {self.data_root} holds no images with extensions '
                             f'{self.extensions} ({where})')
        return [dict(img_path=path, gt_path=path, mask_path=None) for path in paths]
