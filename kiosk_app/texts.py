"""Every text the kiosk shows or says, in plain words: key -> (Simplified Chinese, English).

`VOICE` is what is spoken (Mandarin), one pre-rendered WAV per key (see voice.py). Spoken
sentences are short and say what to do, not what went wrong in technical terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    def format(self, **kw: object) -> Text:
        """Fill in placeholders; a Text value gives each language its own wording."""
        zh = {k: v.zh if isinstance(v, Text) else v for k, v in kw.items()}
        en = {k: v.en if isinstance(v, Text) else v for k, v in kw.items()}
        return Text(self.zh.format(**zh), self.en.format(**en))


MSG: dict[str, tuple[str, str]] = {
    # buttons
    "btn_back": ("返回", "Back"),
    "btn_help": ("帮助", "Help"),
    "btn_repeat": ("再说一遍", "Say again"),
    "btn_lang": ("English", "中文"),
    "btn_exit": ("退出", "Exit"),
    "btn_certify": ("认证", "Certify"),
    "btn_balance": ("余额查询", "Balance"),
    "btn_contributions": ("缴费记录", "Contributions"),
    "btn_payments": ("发放记录", "Payments"),
    "btn_print": ("打印", "Print"),
    "btn_retry": ("再试一次", "Try again"),
    "btn_done": ("完成", "Done"),
    "btn_continue": ("继续", "Continue"),
    "btn_ok": ("知道了", "OK"),
    "btn_end": ("结束", "Finish"),
    # screens
    "attract_title": ("养老金生存认证", "Pension: yearly proof of life"),
    "attract_body": (
        "请插入社保卡\n或把身份证放在感应区上",
        "Insert your social security card,\nor place your ID card on the reader",
    ),
    "reading_title": ("正在读卡", "Reading your card"),
    "reading_body": ("请稍等，不要拿走卡", "Please wait, keep the card in"),
    "looking_up_body": ("正在查找您的信息，请稍等", "Looking up your record, please wait"),
    "menu_title": ("您好，{name}", "Hello, {name}"),
    "menu_body": ("请选择要办的事", "What would you like to do?"),
    "menu_due": ("今年还没有认证，请点“认证”", "Not yet certified this year: tap Certify"),
    "menu_valid": ("已认证，有效期到 {until}", "Certified, valid until {until}"),
    "loading_title": ("正在查询", "Looking up"),
    "loading_body": ("请稍等", "Please wait"),
    "balance_title": ("个人账户余额", "Account balance"),
    "balance_body": ("{amount} 元", "{amount} yuan"),
    "bucket_personal": ("个人缴费", "Your own payments"),
    "bucket_collective": ("集体补助", "Village subsidy"),
    "bucket_other": ("其他资助", "Other subsidy"),
    "bucket_government": ("政府补贴", "Government subsidy"),
    "contributions_title": ("缴费记录", "Contributions"),
    "contributions_empty": ("还没有缴费记录", "No contributions yet"),
    "contribution_row": ("{year}年", "{year}"),
    "contribution_value": (
        "个人 {personal} 元，补贴 {government} 元",
        "you {personal}, subsidy {government} yuan",
    ),
    "payments_title": ("发放记录", "Pension payments"),
    "payments_empty": ("还没有发放记录", "No payments yet"),
    "payment_row": ("{year}年{month}月", "{year}-{month}"),
    "payment_value": ("{amount} 元", "{amount} yuan"),
    "payment_value_arrears": ("{amount} 元（含补发）", "{amount} yuan (with back pay)"),
    "camera_title": ("请看屏幕", "Look at the screen"),
    "identify_title": ("请看屏幕", "Look at the screen"),
    "identify_detail": (
        "认出是您本人，才能查看您的信息",
        "Your details are shown once the kiosk recognises you",
    ),
    "not_recognised_body": (
        "请摘下帽子和眼镜，\n正对屏幕，再试一次",
        "Take off hat and glasses,\nface the screen and try again",
    ),
    "camera_body": ("请把脸放进框里", "Put your face inside the frame"),
    "challenge_body": ("正在准备，请稍等", "Getting ready, please wait"),
    "liveness_title": ("第 {step} 步，共 {total} 步", "Step {step} of {total}"),
    "submitting_title": ("正在认证", "Checking"),
    "submitting_body": ("请稍等，不要离开", "Please wait, do not leave"),
    "passed_title": ("认证成功", "Certified"),
    "passed_body": ("有效期到 {until}", "Valid until {until}"),
    "passed_body_nodate": ("您今年的认证已完成", "Your certification for this year is done"),
    "referred_title": ("已提交，等待审核", "Sent for review"),
    "referred_body": (
        "工作人员会核对您的照片，\n结果会通知您，不用再来",
        "Staff will check your photo\nand let you know. No need to come back",
    ),
    "failed_title": ("没有认出您", "Not recognised"),
    "failed_body": (
        "请摘下帽子和眼镜，\n正对屏幕，再试一次",
        "Take off hat and glasses,\nface the screen and try again",
    ),
    "failed_final_body": (
        "今天已经试了 {n} 次，\n请找大厅工作人员帮忙",
        "You have tried {n} times today.\nPlease ask the staff for help",
    ),
    "failed_final_case_body": (
        "今天已经试了 {n} 次。\n工作人员会打电话联系您，不用再来",
        "You have tried {n} times today.\nStaff will phone you; no need to come back",
    ),
    "liveness_failed_title": ("动作没有看清", "Could not see the movement"),
    "liveness_final_body": (
        "动作做了 {n} 次都没有看清，\n请找大厅工作人员帮忙",
        "The movement was not seen in {n} tries.\nPlease ask the staff for help",
    ),
    "liveness_failed_body": (
        "请跟着提示慢慢做动作，再试一次",
        "Follow the prompt slowly and try again",
    ),
    "camera_help_title": ("没有拍到清楚的脸", "No clear face yet"),
    "camera_help_body": (
        "请站到屏幕正前方，\n或请大厅工作人员帮忙",
        "Stand right in front of the screen,\nor ask the staff for help",
    ),
    "camera_failed_title": ("摄像头不能用", "Camera not working"),
    "camera_failed_body": ("请找大厅工作人员帮忙", "Please ask the staff for help"),
    "printing_body": ("正在打印凭条", "Printing your receipt"),
    "printing_title": ("正在打印", "Printing"),
    "paper_out_title": ("打印机没纸了", "Printer is out of paper"),
    "paper_out_body": (
        "凭条打不出来，结果请看屏幕。\n需要凭条请找工作人员",
        "No receipt: your result is on the screen.\nAsk the staff for a receipt",
    ),
    "printer_fault_title": ("打印机坏了", "Printer not working"),
    "take_card_title": ("请取走您的卡", "Please take your card"),
    "take_card_body": ("办完了，请拿好卡和凭条", "All done. Take your card and receipt"),
    "take_card_body_noreceipt": ("办完了，请拿好您的卡", "All done. Take your card"),
    "take_id_body": ("办完了，请拿好身份证和凭条", "All done. Take your ID card and receipt"),
    "take_id_body_noreceipt": ("办完了，请拿好您的身份证", "All done. Take your ID card"),
    "take_card_body_failed": (
        "这次没有认证成功，请拿好您的卡。大厅工作人员可以帮您",
        "Not certified this time. Take your card; staff in the hall can help",
    ),
    "take_id_body_failed": (
        "这次没有认证成功，请拿好您的身份证。大厅工作人员可以帮您",
        "Not certified this time. Take your ID card; staff in the hall can help",
    ),
    "btn_call_staff": ("请工作人员帮忙", "Call the staff"),
    "staff_calling": ("已通知工作人员，请在这里稍等", "The staff have been told: please wait here"),
    "staff_not_reached": (
        "没有通知到工作人员，请到服务窗口",
        "The staff could not be told: please go to the counter",
    ),
    "take_card_outcome_failed": ("这次没有认证成功", "Not certified this time"),
    "take_id_title": ("请拿走您的身份证", "Please take your ID card"),
    "statement_printed": ("凭条已打印，请在出纸口取走", "Receipt printed: take it from the slot"),
    "statement_paper_out": ("打印机没纸了，请在屏幕上查看", "Printer out of paper: see the screen"),
    "unreachable_title": ("网络连不上", "Cannot connect"),
    "unreachable_body": (
        "现在连不上服务器。\n请稍后再试，或找工作人员",
        "The server cannot be reached.\nTry again later, or ask the staff",
    ),
    "card_error_title": ("读不出这张卡", "Cannot read the card"),
    "card_error_body": ("请把卡拿出来，再重新放一次", "Take the card out and try once more"),
    "refused_title": ("现在不能办理", "This cannot be done now"),
    "refused_not_enrolled": (
        "没有找到您的参保信息，\n请到窗口咨询",
        "No pension record found for this card.\nPlease ask at the counter",
    ),
    "refused_card_locked": (
        "今天认证次数已用完。\n工作人员会打电话联系您，也可以明天再来",
        "No more tries today.\nStaff will phone you, or come back tomorrow",
    ),
    "refused_card_mismatch": (
        "卡上的姓名和登记的不一样\n（比如繁体字、简体字），请到窗口核对",
        "The name on the card differs from the record\n(e.g. a traditional character). Ask at the counter",
    ),
    "refused_challenge_expired": (
        "准备的时间过了，\n请点返回，再点认证",
        "The check timed out.\nTap Back, then Certify again",
    ),
    "refused_not_pensioner": (
        "您还没有开始领养老金，\n不需要认证",
        "You are not drawing a pension yet;\nno certification needed",
    ),
    "refused_session_expired": (
        "这次办理的时间到了，\n请把卡取出，再重新插入",
        "Time is up for this visit.\nTake the card out and insert it again",
    ),
    "refused_other": ("请找大厅工作人员帮忙", "Please ask the staff for help"),
    "idle_title": ("您还在吗？", "Are you still there?"),
    "idle_body": (
        "{n} 秒后自动退出。\n还要办事，请点“继续”",
        "Ending in {n} seconds.\nTap Continue to carry on",
    ),
    "result_title": ("认证结果", "Result"),
    "help_title": ("帮助", "Help"),
    "help_staff": ("大厅工作人员可以帮您", "The staff in the hall can help you"),
    "help_attract": (
        "把社保卡芯片朝里插进卡口，\n或把身份证平放在感应区上",
        "Push the social security card chip-first into the slot,\nor lay the ID card flat on the reader",
    ),
    "help_menu": (
        "每年认证一次，才能继续领养老金。\n点大按钮，选择要办的事",
        "Certify once a year to keep your pension.\nTap a big button to choose",
    ),
    "help_camera": (
        "站在屏幕正前方，脸对着屏幕，\n摘下帽子和眼镜",
        "Stand in front of the screen, face it,\ntake off hat and glasses",
    ),
    "help_liveness": (
        "跟着屏幕上的字慢慢做动作",
        "Do the movement on the screen, slowly",
    ),
    "help_wait": ("机器正在办理，请稍等", "The kiosk is working, please wait"),
    "help_generic": ("点“返回”可以回到上一步", "Tap Back to go back one step"),
    # liveness actions
    "action_blink": ("请眨眨眼", "Blink your eyes"),
    "action_open_mouth": ("请张张嘴", "Open your mouth"),
    "action_turn_left": ("请慢慢向左转头", "Slowly turn your head left"),
    "action_turn_right": ("请慢慢向右转头", "Slowly turn your head right"),
    "action_nod": ("请点点头", "Nod your head"),
    "action_smile": ("请笑一笑", "Smile"),
    "action_unknown": ("请跟着屏幕做动作", "Follow the prompt on the screen"),
    # camera guidance (quality gate reasons we have voice for)
    "guide_no_face": ("请把脸放进框里", "Put your face inside the frame"),
    "guide_too_small": ("请走近一点", "Come a little closer"),
    "guide_too_large": ("请退后一点", "Step back a little"),
    "guide_too_dark": ("光线太暗，请站到亮一点的地方", "Too dark: move to more light"),
    "guide_too_bright": ("光线太亮，请避开强光", "Too bright: move out of strong light"),
    "guide_blurry": ("请站稳，不要动", "Hold still"),
    "guide_not_frontal": ("请正对屏幕", "Face the screen straight on"),
    "guide_multiple_faces": ("请一个人站在屏幕前", "Only one person in front of the screen"),
    "guide_eyes_closed": ("请睁开眼睛", "Please open your eyes"),
    "guide_occluded": ("请摘下口罩、帽子和眼镜", "Take off mask, hat and glasses"),
    "guide_hold": ("很好，请保持不动", "Good, hold still"),
    # the technician menu (staff only; no voice)
    "btn_delete": ("删除", "Delete"),
    "btn_ok_pin": ("确定", "OK"),
    "btn_selftest": ("设备自检", "Self-test"),
    "btn_selftest_again": ("再检查一次", "Test again"),
    "tech_pin_title": ("技术人员", "Technician"),
    "tech_pin_body": ("请输入维护密码", "Enter the maintenance PIN"),
    "tech_pin_wrong": ("密码不对，还可以试 {n} 次", "Wrong PIN: {n} tries left"),
    "tech_menu_title": ("技术人员菜单", "Technician menu"),
    "tech_menu_body": ("本机设置", "This kiosk's settings"),
    "tech_backend": ("服务器地址", "Backend URL"),
    "tech_device_id": ("设备编号", "Device ID"),
    "tech_location": ("安装地点", "Location"),
    "tech_orientation": ("屏幕方向", "Orientation"),
    "tech_landscape": ("横屏", "Landscape"),
    "tech_portrait": ("竖屏", "Portrait"),
    "tech_not_set": ("未设置", "Not set"),
    "tech_test_title": ("设备自检", "Device self-test"),
    "tech_testing": ("正在检查设备，请稍等", "Checking the devices, please wait"),
    "tech_test_all_ok": ("全部正常", "Everything works"),
    "tech_test_faults": ("有 {n} 项故障", "{n} fault(s) found"),
    "tech_test_unfinished": ("自检没有完成（超时）", "The self-test did not finish (timeout)"),
    "tech_dev_card_reader": ("读卡器", "Card reader"),
    "tech_dev_camera": ("摄像头", "Camera"),
    "tech_dev_printer": ("打印机", "Printer"),
    "tech_dev_backend": ("服务器", "Backend"),
    "tech_ok": ("正常", "OK"),
    "tech_printed": ("正常，测试凭条已打印", "OK, test receipt printed"),
    "tech_fault": ("故障", "Fault"),
    "tech_fault_no_reader": ("故障：没有读卡器", "Fault: no card reader"),
    "tech_fault_no_frame": ("故障：没有收到画面", "Fault: no camera picture"),
    "tech_fault_camera_failed": ("故障：摄像头打不开", "Fault: camera will not open"),
    "tech_fault_out_of_paper": ("故障：缺纸", "Fault: out of paper"),
    "tech_fault_cover_open": ("故障：纸仓盖开着", "Fault: cover open"),
    "tech_fault_offline": ("故障：打印机离线", "Fault: printer offline"),
    "tech_fault_unreachable": ("故障：连不上", "Fault: not reachable"),
    "tech_fault_no_check": ("故障：无法检查", "Fault: cannot be checked"),
}

# What is spoken for a voice key (Mandarin). Keys also name the WAV files.
VOICE: dict[str, str] = {
    "attract": "您好，请插入社保卡，或者把身份证放在感应区上。",
    "reading": "正在读卡，请稍等，不要拿走卡。",
    "menu": "请选择要办的事。要认证，请点认证。",
    "menu_due": "您今年还没有认证，请点认证。",
    "loading": "正在查询，请稍等。",
    "balance": "这是您的个人账户余额。",
    "contributions": "这是您的缴费记录。",
    "payments": "这是您的养老金发放记录。",
    "camera": "请看屏幕，把脸放进框里。",
    "identify": "请看屏幕，把脸放进框里，确认是您本人。",
    "not_recognised": "没有认出您。请摘下帽子和眼镜，正对屏幕，再试一次。",
    "submitting": "正在认证，请稍等，不要离开。",
    "passed": "认证成功。",
    "referred": "已经提交，工作人员会核对，结果会通知您，不用再来。",
    "failed": "没有认出您。请摘下帽子和眼镜，正对屏幕，再试一次。",
    "failed_final": "今天已经试了好几次，请找大厅工作人员帮忙。",
    "liveness_failed": "动作没有看清，请跟着提示慢慢做，再试一次。",
    "camera_help": "没有拍到清楚的脸。请站到屏幕正前方，或者请工作人员帮忙。",
    "camera_failed": "摄像头不能用，请找大厅工作人员帮忙。",
    "printing": "正在打印凭条。",
    "paper_out": "打印机没纸了，请看屏幕上的结果。",
    "printer_fault": "打印机坏了，请看屏幕上的结果。",
    "take_card": "办完了，请取走您的卡。",
    "take_id": "办完了，请拿走您的身份证。",
    "statement_printed": "凭条已经打印，请在出纸口取走。",
    "unreachable": "现在连不上服务器，请稍后再试，或者找工作人员。",
    "card_error": "读不出这张卡，请把卡拿出来，再放一次。",
    "refused": "现在不能办理，请找大厅工作人员帮忙。",
    "refused_not_enrolled": "没有找到您的参保信息，请到窗口咨询。",
    "refused_card_locked": "今天认证次数已经用完。工作人员会打电话联系您，也可以明天再来。",
    "refused_not_pensioner": "您还没有开始领养老金，不需要认证。",
    "refused_card_mismatch": "卡上的姓名和登记的不一样，请到窗口核对。",
    "refused_challenge_expired": "准备的时间过了，请点返回，再点认证。",
    "liveness_failed_final": "动作做了几次都没有看清，请找大厅工作人员帮忙。",
    "refused_session_expired": "这次办理的时间到了，请把卡取出，再重新插入。",
    "idle": "您还在吗？请点继续。",
    "staff_called": "已经通知工作人员，请在这里稍等。",
    "staff_not_reached": "没有通知到工作人员，请到服务窗口。",
    "help": "大厅工作人员可以帮您。",
    "help_attract": "把社保卡芯片朝里插进卡口，或者把身份证平放在感应区上。大厅工作人员可以帮您。",
    "help_menu": "每年认证一次，才能继续领养老金。点大按钮，选择要办的事。大厅工作人员可以帮您。",
    "help_camera": "站在屏幕正前方，脸对着屏幕，摘下帽子和眼镜。大厅工作人员可以帮您。",
    "help_liveness": "跟着屏幕上的字，慢慢做动作。大厅工作人员可以帮您。",
    "help_wait": "机器正在办理，请稍等。大厅工作人员可以帮您。",
    "help_generic": "点返回，可以回到上一步。大厅工作人员可以帮您。",
    "passed_printing": "认证成功。正在打印凭条。",
    "referred_printing": "已经提交，工作人员会核对，结果会通知您，不用再来。正在打印凭条。",
    "action_blink": "请眨眨眼。",
    "action_open_mouth": "请张张嘴。",
    "action_turn_left": "请慢慢向左转头。",
    "action_turn_right": "请慢慢向右转头。",
    "action_nod": "请点点头。",
    "action_smile": "请笑一笑。",
    "action_unknown": "请跟着屏幕上的字做动作。",
    "guide_no_face": "请把脸放进框里。",
    "guide_too_small": "请走近一点。",
    "guide_too_large": "请退后一点。",
    "guide_too_dark": "光线太暗，请站到亮一点的地方。",
    "guide_too_bright": "光线太亮，请避开强光。",
    "guide_blurry": "请站稳，不要动。",
    "guide_not_frontal": "请正对屏幕。",
    "guide_multiple_faces": "请一个人站在屏幕前。",
    "guide_eyes_closed": "请睁开眼睛。",
    "guide_occluded": "请摘下口罩、帽子和眼镜。",
    "guide_hold": "很好，请保持不动。",
}

KNOWN_ACTIONS = ("blink", "open_mouth", "turn_left", "turn_right", "nod", "smile")

# Quality-gate reason codes (from biometrics, through the face adapter) -> our guide key.
GUIDE_FOR_REASON: dict[str, str] = {
    "no_face": "guide_no_face",
    "face_not_found": "guide_no_face",
    "too_small": "guide_too_small",
    "face_too_small": "guide_too_small",
    "too_far": "guide_too_small",
    "too_large": "guide_too_large",
    "too_close": "guide_too_large",
    "too_dark": "guide_too_dark",
    "underexposed": "guide_too_dark",
    "too_bright": "guide_too_bright",
    "overexposed": "guide_too_bright",
    "blurry": "guide_blurry",
    "blur": "guide_blurry",
    "not_frontal": "guide_not_frontal",
    "pose": "guide_not_frontal",
    "multiple_faces": "guide_multiple_faces",
    "several_faces": "guide_multiple_faces",
    "off_centre": "guide_no_face",
    "blurred": "guide_blurry",
    "eyes_not_visible": "guide_eyes_closed",
    "head_turned": "guide_not_frontal",
    "face_lost": "guide_no_face",
    "eyes_closed": "guide_eyes_closed",
    "occluded": "guide_occluded",
}


def spoken_passed(valid_until: date | None, then: str = "") -> str:
    """What a resident hears on a pass: the result and until when it holds."""
    head = "您已认证成功。"
    if valid_until is not None:
        head = f"您已认证成功，有效期到{spoken_date(valid_until)}。"
    return head + then


def spoken_final_failure(n: int) -> str:
    """The day's last failed face check: the cause, and that staff will call (a review case)."""
    return f"没有认出您。今天已经试了{_number(n)}次，工作人员会打电话联系您，不用再来。"


# What the take-card screen repeats, by the session's outcome (result_kind).
TAKE_CARD_OUTCOME: dict[str, str] = {
    "passed": "认证成功。",
    "referred": "已经提交，工作人员会核对。",
    "failed": "这次没有认证成功。",
    "liveness_failed": "这次没有认证成功。",
    "failed_final": "今天没有认证成功，工作人员会联系您。",
    "liveness_failed_final": "这次没有认证成功，请找大厅工作人员帮忙。",
}


def t(key: str, **kw: object) -> Text:
    zh, en = MSG[key]
    text = Text(zh, en)
    return text.format(**kw) if kw else text


_DIGITS = "零一二三四五六七八九"


def _number(n: int) -> str:
    """1..99 in Chinese numerals, as a month or a day is read (十二, 三十一)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones or not head else "")


def spoken_date(d: date) -> str:
    """A date as a Chinese listener expects it: the year digit by digit (二零二七年), the
    month and day as numbers (十二月三十一日). Arabic digits would be read as one number
    ("two thousand and twenty-seven")."""
    year = "".join(_DIGITS[int(c)] for c in f"{d.year:04d}")
    return f"{year}年{_number(d.month)}月{_number(d.day)}日"
