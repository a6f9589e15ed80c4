"""Machine codes with the Chinese and English text shown to the person or the operator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    zh: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "zh": self.zh, "en": self.en}


_TEXTS: dict[str, tuple[str, str]] = {
    # quality gate
    "no_face": ("没有检测到人脸，请正对摄像头", "No face found: please look at the camera"),
    "several_faces": ("镜头前只能有一个人", "Only one person may be in front of the camera"),
    "too_small": ("请靠近一点", "Please come closer (the face is too small)"),
    "too_close": ("请离远一点", "Please move back a little (the face does not fit)"),
    "off_centre": ("请把脸移到画面中间", "Please move your face to the middle of the picture"),
    "too_dark": ("光线太暗", "Too dark: please add light or face the light"),
    "too_bright": ("光线太亮", "Too bright: please avoid direct light on the face"),
    "blurred": ("图像模糊，请保持不动", "The picture is blurred: please hold still"),
    "eyes_not_visible": (
        "请睁开眼睛，摘下墨镜",
        "Eyes not visible: open your eyes, remove dark glasses",
    ),
    "head_turned": ("请正对摄像头", "Please face the camera straight on"),
    # 1:1 decision
    "match": ("人脸比对通过", "The face matches the enrolled photo"),
    "uncertain_match": ("比对不确定，转人工复核", "Uncertain match: referred to staff for review"),
    "no_match": ("人脸与登记照片不符", "The face does not match the enrolled photo"),
    # enrolment
    "no_usable_photo": (
        "没有合格的照片，请重新拍照",
        "No photo passed the quality check: please retake",
    ),
    "photos_disagree": ("几张照片不像同一个人", "The photos do not look like the same person"),
    # liveness
    "challenge_expired": ("验证超时，请重新开始", "The check has expired: please start again"),
    "challenge_not_started": ("验证尚未开始", "The check was used before it was issued"),
    "action_timeout": (
        "没有完成动作，请重新开始",
        "The action was not done in time: please start again",
    ),
    "wrong_action": ("动作不对，请按提示做", "Wrong action: please follow the prompt"),
    "face_changed": ("检测到换人，验证失败", "A different face appeared during the check"),
    "face_lost": ("请保持脸在画面中", "Please keep your face in the picture"),
    "static_image": ("未检测到真人动作", "No live movement: the picture does not change"),
    "not_enough_frames": ("画面太少，无法判断", "Too few frames to decide"),
    "identity_unchecked": (
        "无法确认是同一人",
        "Could not confirm it was the same person throughout",
    ),
    "not_reference": ("与登记照片不符", "The face does not match the enrolled template"),
    "bad_evidence": ("数据不完整，请重新验证", "The frames are out of order or malformed"),
    # presentation attacks (measured on the frames, biometrics/pad.py)
    "flat_surface": (
        "检测到平面图像（照片或屏幕），请本人验证",
        "The face moved like a flat picture, not a head",
    ),
    "warped_motion": (
        "动作不自然，请本人验证",
        "The head turn did not move like a real head (an edited picture?)",
    ),
    "screen_replay": ("检测到屏幕翻拍", "The face looks like a screen being filmed"),
    "print_attack": ("检测到打印照片", "The face looks like a printed photo"),
}


def reason(code: str) -> Reason:
    zh, en = _TEXTS[code]
    return Reason(code, zh, en)


def known_codes() -> frozenset[str]:
    return frozenset(_TEXTS)
