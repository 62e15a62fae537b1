"""Listing INPUT (restorekit/apis/input_sources.py) and checking output folders
(restorekit/apis/output_folder.py)."""
import errno
import os
import zipfile

import pytest
from PIL import Image

from restorekit.apis.input_sources import (DEFAULT_ZIP_MAX_MEMBER_BYTES,
                                           DEFAULT_ZIP_MAX_TOTAL_BYTES, InputError,
                                           InputReadError, InputSet, folder_inputs, parse_size)
from restorekit.apis.output_folder import (OutputFolderError, prepare_output_folders,
                                           remove_created_folders)


def test_parse_size():
    assert parse_size('1048576') == 2**20
    assert parse_size('512K') == 512 * 1024
    assert parse_size('256MiB') == parse_size('256m') == parse_size('256 MB') == 256 * 2**20
    assert parse_size('1.5G') == 3 * 2**29
    assert parse_size('0') == 0
    with pytest.raises(ValueError, match="'lots' is not a size"):
        parse_size('lots')
    assert (DEFAULT_ZIP_MAX_MEMBER_BYTES, DEFAULT_ZIP_MAX_TOTAL_BYTES) == (256 * 2**20, 4 * 2**30)


def test_folder_entries_that_cannot_be_read_are_listed_with_the_reason(tmp_path):
    Image.new('L', (4, 4)).save(tmp_path / 'good.png')
    os.symlink('loop.png', tmp_path / 'loop.png')
    os.symlink('good.png', tmp_path / 'link.png')  # a link to an image is an image
    (tmp_path / 'sub.png').mkdir()
    (tmp_path / 'notes.txt').write_text('skipped')
    items = {item.filename: item for item in folder_inputs(str(tmp_path))}
    assert sorted(items) == ['good.png', 'link.png', 'loop.png']
    assert items['good.png'].error == '' and items['link.png'].error == ''
    assert items['loop.png'].path == '' and 'symbolic link loop' in items['loop.png'].error
    with pytest.raises(InputError, match='cannot list INPUT .*missing'):
        folder_inputs(str(tmp_path / 'missing'))


def test_input_errors_name_the_input(tmp_path):
    with pytest.raises(InputError, match='does not exist'):
        InputSet(str(tmp_path / 'absent.png'), str(tmp_path))
    (tmp_path / 'bad.zip').write_bytes(b'not a zip')
    with pytest.raises(InputError, match='cannot open .*bad.zip'):
        InputSet(str(tmp_path / 'bad.zip'), str(tmp_path))
    (tmp_path / 'no_column.csv').write_text('ID,path\n1,a.png\n')
    with pytest.raises(InputError, match="no 'input_image_path' column"):
        InputSet(str(tmp_path / 'no_column.csv'), str(tmp_path))
    os.symlink('loop.png', tmp_path / 'loop.png')
    with pytest.raises(InputError, match='loop.png cannot be read: symbolic link loop'):
        InputSet(str(tmp_path / 'loop.png'), str(tmp_path))


def test_zip_members_are_inflated_one_at_a_time_inside_the_temporary_folder(tmp_path):
    archive, temp = tmp_path / 'in.zip', tmp_path / 'temp'
    temp.mkdir()
    with zipfile.ZipFile(archive, 'w') as zipped:
        zipped.writestr('../../evil.png', b'x' * 10)  # zip-slip name
        zipped.writestr('/abs/two.png', b'y' * 20)
        zipped.writestr('__MACOSX/._evil.png', b'meta')
    with InputSet(str(archive), str(temp)) as inputs:
        assert [item.member for item in inputs.items] == ['../../evil.png', '/abs/two.png']
        assert [item.label for item in inputs.items] == [f'{archive}:../../evil.png',
                                                         f'{archive}:/abs/two.png']
        for item, size in zip(inputs.items, (10, 20)):
            with inputs.local_file(item) as path:
                assert os.path.dirname(path) == str(temp) and os.path.getsize(path) == size
                assert os.listdir(temp) == [os.path.basename(path)]  # one member at a time
            assert os.listdir(temp) == []  # removed after use
        assert inputs.inflated_bytes == 30
    assert sorted(os.listdir(tmp_path)) == ['in.zip', 'temp']  # nothing written outside


def test_an_encrypted_member_is_refused_by_name(tmp_path):
    archive = tmp_path / 'in.zip'
    with zipfile.ZipFile(archive, 'w') as zipped:
        zipped.writestr('secret.png', b'x')
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b'PK\x03\x04', 6), (b'PK\x01\x02', 8)):  # set "encrypted" flags
        position = data.index(signature) + offset
        data[position] |= 1
    archive.write_bytes(bytes(data))
    with InputSet(str(archive), str(tmp_path)) as inputs:
        (item, ) = inputs.items
        with pytest.raises(InputReadError, match='in.zip:secret.png: encrypted member'):
            with inputs.local_file(item):
                pass


def test_output_folders_are_created_checked_and_removed_on_failure(tmp_path, monkeypatch):
    out = tmp_path / 'a' / 'b'
    created = prepare_output_folders([str(out), str(out / 'masks')])
    assert created == [str(tmp_path / 'a'), str(out), str(out / 'masks')]
    assert os.listdir(out) == ['masks'] and os.listdir(out / 'masks') == []  # the probe is gone
    remove_created_folders(created)
    assert os.listdir(tmp_path) == []

    real_open = os.open

    def read_only(path, *args, **kwargs):
        if 'masks' in os.fspath(path):
            raise OSError(errno.EROFS, 'Read-only file system', path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, 'open', read_only)
    with pytest.raises(OutputFolderError, match=r'cannot create OUTPUT .*masks: read-only file'):
        prepare_output_folders([str(out), str(out / 'masks')])
    assert os.listdir(tmp_path) == []  # what it had created is removed again


def test_a_set_of_listed_files_reads_each_in_place(tmp_path):
    from restorekit.apis.input_sources import InputItem

    items = [InputItem('a', str(tmp_path / 'a.png'), 'a.png', 'a.png'),
             InputItem('b', '', 'b.png', 'b.png', error='broken symbolic link')]
    inputs = InputSet.of_items(items)
    with inputs.local_file(items[0]) as path:
        assert path == str(tmp_path / 'a.png')
    with pytest.raises(InputReadError, match='b.png: broken symbolic link'):
        with inputs.local_file(items[1]):
            pass
