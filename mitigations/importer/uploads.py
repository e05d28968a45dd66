"""Uploads of the admin's import page laid out as a dataset folder (or JSON file) on disk."""

import re
import stat
import zipfile
import zlib
from pathlib import Path

from mitigations.importer.problems import FILE_ROW, WHOLE_ROW, DatasetError, Problems, show
from mitigations.importer.reading import DEFAULT_MAX_BYTES, too_big

UPLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_ZIP_MEMBERS = 100


def dataset_from_upload(files, workdir, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    """Lay out uploaded files (one .zip of CSVs, one .json, or several .csv) as a dataset in
    `workdir` (an empty temporary folder) and return the path to pass to `import_dataset`.

    Zips are extracted safely: only `.csv` members are taken, by their base name, into
    `workdir` (no paths, so no traversal); symbolic links and encrypted members are refused;
    sizes are counted while extracting (headers can lie) and capped at `max_bytes` a file and
    in total. Raises DatasetError for anything unusable.
    """
    workdir = Path(workdir)
    problems = Problems()
    names = [Path(str(getattr(f, "name", "") or "upload")).name for f in files]
    kinds = [Path(name).suffix.lower() for name in names]
    if not files:
        problems.add("upload", FILE_ROW, WHOLE_ROW, "no file was uploaded")
    elif kinds in ([".zip"], [".json"]) or (kinds and set(kinds) == {".csv"}):
        if kinds == [".zip"]:
            _extract_zip(files[0], names[0], workdir, max_bytes, problems)
            target = workdir
        elif kinds == [".json"]:
            target = workdir / (names[0] if UPLOAD_NAME.fullmatch(names[0]) else "dataset.json")
            _save_upload(files[0], names[0], target, max_bytes, problems)
        else:
            target = workdir
            for upload, name in zip(files, names, strict=True):
                if not UPLOAD_NAME.fullmatch(name):
                    problems.add(show(name), FILE_ROW, WHOLE_ROW, "unusable file name")
                elif (workdir / name).exists():
                    problems.add(name, FILE_ROW, WHOLE_ROW, "the file was uploaded twice")
                else:
                    _save_upload(upload, name, workdir / name, max_bytes, problems)
    else:
        problems.add(
            "upload",
            FILE_ROW,
            WHOLE_ROW,
            "upload one .zip of CSV files, one .json file, or one or more .csv files "
            f"(got: {', '.join(show(n) for n in names)})",
        )
    if problems:
        raise DatasetError(problems.sorted())
    return target


def _save_upload(upload, name, target: Path, max_bytes: int, problems: Problems):
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        problems.add(name, FILE_ROW, WHOLE_ROW, too_big(size, max_bytes))
        return
    written = 0
    with target.open("wb") as out:
        for chunk in upload.chunks() if hasattr(upload, "chunks") else iter(upload.read, b""):
            written += len(chunk)
            if written > max_bytes:
                problems.add(name, FILE_ROW, WHOLE_ROW, too_big(written, max_bytes))
                break
            out.write(chunk)


def _extract_zip(upload, name: str, workdir: Path, max_bytes: int, problems: Problems):
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        problems.add(name, FILE_ROW, WHOLE_ROW, f"not a readable zip file: {exc}")
        return
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            problems.add(name, FILE_ROW, WHOLE_ROW, f"more than {MAX_ZIP_MEMBERS} files in the zip")
            return
        total = 0
        for info in members:
            inner = info.filename.replace("\\", "/")
            base = inner.rsplit("/", 1)[-1]
            where = f"{name}/{show(inner)}"
            if (
                base.startswith(".")
                or "__MACOSX" in inner.split("/")
                or not base.lower().endswith(".csv")
            ):
                continue  # README, .DS_Store, resource forks: not part of the dataset
            if stat.S_ISLNK(info.external_attr >> 16):
                problems.add(where, FILE_ROW, WHOLE_ROW, "symbolic links are not allowed")
                continue
            if info.flag_bits & 0x1:
                problems.add(where, FILE_ROW, WHOLE_ROW, "encrypted files are not supported")
                continue
            if not UPLOAD_NAME.fullmatch(base):
                problems.add(where, FILE_ROW, WHOLE_ROW, "unusable file name")
                continue
            target = workdir / base
            if target.exists():
                problems.add(where, FILE_ROW, WHOLE_ROW, f"{base} appears twice in the zip")
                continue
            written = 0
            try:
                with archive.open(info) as source, target.open("wb") as out:
                    while chunk := source.read(1024 * 1024):
                        written += len(chunk)
                        total += len(chunk)
                        if written > max_bytes or total > max_bytes:
                            problems.add(
                                where,
                                FILE_ROW,
                                WHOLE_ROW,
                                f"the zip holds more than {max_bytes / 2**20:.0f} MB of data",
                            )
                            return
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError, EOFError) as exc:
                problems.add(where, FILE_ROW, WHOLE_ROW, f"cannot be extracted: {exc}")
