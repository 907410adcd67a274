"""Write a phantom exam's videos as DICOM, the way a PACS holds them.

    python3 -m phantom.dicom EXAM.json OUTDIR [--study-date YYYYMMDD]
                                              [--seed TEXT]

Each video of EXAM.json (a "noduleid-exam", e.g. one the phantom made)
becomes OUTDIR/<video id>.dcm: one US Multi-frame Image Storage instance
(SOP class 1.2.840.10008.5.1.4.1.1.3.1), MONOCHROME2 8-bit, uncompressed
(Explicit VR Little Endian), with the patient / study / series identities
of a real exam (Patient ID from the exam, one study per exam, one series per
video, deterministic UIDs), Frame Time, Cine Rate and pixel spacing (from
the exam's meta.px_mm when present). The frames are the video's decoded
frames as grey (OpenCV, BT.601).

Also writes
  OUTDIR/exam.json  the exam with each video's path the .dcm file (for
                    `noduleid group OUTDIR/exam.json`),
  OUTDIR/body.json  the exam with each video's path its SOP Instance UID
                    (the body of the Orthanc plugin's group request),
  OUTDIR/uids.json  {"study": StudyInstanceUID, "instances": {video id: UID}}.

A whole phantom patient can then go to a PACS with
`storescu HOST PORT OUTDIR/*.dcm`.
"""
import argparse
import copy
import datetime
import json
import os
import sys

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"


def _uid(seed, *parts):
    from pydicom.uid import generate_uid
    return generate_uid(entropy_srcs=[seed] + [str(p) for p in parts])


def read_gray_frames(path):
    """All frames of a video file as an (n, h, w) uint8 array."""
    import cv2
    import numpy as np
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY))
    cap.release()
    if not frames:
        raise SystemExit("phantom.dicom: %s: no frames decoded" % path)
    return np.stack(frames)


def write_instance(path, frames, fps, ids, px_mm=None, modality="US",
                   sop_class=US_MULTIFRAME):
    """Write (n, h, w) uint8 frames as one multi-frame instance."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ids["sop"]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ids["sop"]
    ds.StudyInstanceUID = ids["study"]
    ds.SeriesInstanceUID = ids["series"]
    ds.PatientID = ids["patient"]
    ds.PatientName = ids.get("patient_name", ids["patient"])
    ds.StudyDate = ids["date"]
    ds.StudyTime = "120000"
    ds.StudyID = ids.get("study_id", "1")
    ds.AccessionNumber = ids.get("accession", "")
    ds.SeriesNumber = ids.get("series_number", 1)
    ds.InstanceNumber = 1
    ds.Modality = modality
    ds.Manufacturer = "noduleid-phantom"
    ds.SeriesDescription = ids.get("description", "phantom cine loop")
    n, h, w = frames.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = h
    ds.Columns = w
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = n
    if n > 1 and fps > 0:
        ds.FrameTime = "%.4f" % (1000.0 / fps)
        ds.CineRate = int(round(fps))
        ds.RecommendedDisplayFrameRate = int(round(fps))
        ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    if px_mm:
        ds.PixelSpacing = [px_mm, px_mm]
    ds.PixelData = frames.astype("uint8").tobytes()
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.save_as(path, write_like_original=False)


def convert(exam_path, out_dir, study_date=None, seed="noduleid-phantom"):
    with open(exam_path, encoding="utf-8") as f:
        exam = json.load(f)
    base = os.path.dirname(os.path.abspath(exam_path))
    os.makedirs(out_dir, exist_ok=True)
    patient = exam.get("patient_id") or "ANON"
    exam_id = exam.get("exam_id") or os.path.basename(exam_path)
    if study_date is None:
        d = exam.get("date")
        study_date = d.replace("-", "") if d else \
            datetime.date.today().strftime("%Y%m%d")
    px_mm = (exam.get("meta") or {}).get("px_mm")
    study_uid = _uid(seed, patient, exam_id, study_date)
    files = copy.deepcopy(exam)
    body = copy.deepcopy(exam)
    uids = {"study": study_uid, "patient_id": patient, "date": study_date,
            "instances": {}}
    for i, v in enumerate(exam["videos"]):
        src = os.path.join(base, v["path"])
        frames = read_gray_frames(src)
        ids = {"patient": patient, "study": study_uid,
               "series": _uid(seed, patient, exam_id, study_date, v["id"],
                              "series"),
               "sop": _uid(seed, patient, exam_id, study_date, v["id"],
                           "instance"),
               "date": study_date, "series_number": i + 1,
               "study_id": exam_id[:16],
               "description": "%s %s" % (exam_id, v["id"])}
        name = "%s.dcm" % v["id"]
        write_instance(os.path.join(out_dir, name), frames,
                       float(v.get("fps") or 0), ids, px_mm)
        files["videos"][i]["path"] = name
        files["videos"][i]["n_frames"] = int(frames.shape[0])
        body["videos"][i]["path"] = ids["sop"]
        body["videos"][i]["n_frames"] = int(frames.shape[0])
        uids["instances"][v["id"]] = ids["sop"]
    for name, obj in (("exam.json", files), ("body.json", body),
                      ("uids.json", uids)):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1)
    return uids


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m phantom.dicom",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("exam")
    ap.add_argument("out_dir")
    ap.add_argument("--study-date", help="YYYYMMDD (default: the exam's)")
    ap.add_argument("--seed", default="noduleid-phantom",
                    help="text the UIDs are derived from")
    a = ap.parse_args(argv)
    uids = convert(a.exam, a.out_dir, a.study_date, a.seed)
    print("phantom.dicom: %d instances of study %s in %s"
          % (len(uids["instances"]), uids["study"], a.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
