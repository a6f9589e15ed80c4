"""Every word the field app shows, in Chinese (default) and English."""

from __future__ import annotations

Text = tuple[str, str]

T: dict[str, Text] = {
    "app": ("农保 上门认证", "Nongbao field visits"),
    "sign_in": ("登录", "Sign in"),
    "sign_in_hint": (
        "联网登录，并设一个4到8位PIN码供离线使用",
        "Sign in online and choose a 4-8 digit PIN for offline use",
    ),
    "server": ("服务器", "Server"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "pin": ("PIN码", "PIN"),
    "unlock": ("用PIN码打开", "Open with PIN"),
    "unlock_hint": ("没有信号也可以用PIN码打开", "Your PIN opens the app without signal"),
    "online_sign_in": ("联网登录", "Sign in online"),
    "list": ("待认证名单", "Work list"),
    "list_empty": (
        "名单是空的：有信号时点“更新名单”",
        "The list is empty: tap Refresh where there is signal",
    ),
    "refresh": ("更新名单", "Refresh list"),
    "search": ("姓名或身份证后几位", "Name or last ID digits"),
    "scan_qr": ("扫手册二维码", "Scan handbook QR"),
    "read_card": ("读身份证", "Read ID card"),
    "outbox": ("待发送", "Outbox"),
    "sync_now": ("立即发送", "Send now"),
    "sign_out": ("退出登录", "Sign out"),
    "back": ("返回", "Back"),
    "lang": ("English", "中文"),
    "homebound": ("行动不便", "homebound"),
    "overdue": ("已逾期", "overdue"),
    "due": ("即将到期", "due"),
    "never": ("从未认证", "never certified"),
    "start_face": ("开始人脸认证", "Start face check"),
    "not_home": ("不在家", "Not at home"),
    "reported_dead": ("家属报告已去世", "Reported dead by family"),
    "no_challenge": (
        "本机没有此人的活体验证码：有信号时更新名单",
        "No liveness challenge for this person on the device: refresh the list where there is signal",
    ),
    "no_face_enrolled": (
        "此人没有登记人脸：请到窗口认证",
        "No enrolled face: certify at the counter",
    ),
    "face_title": ("人脸认证", "Face check"),
    "face_hold": ("请保持不动", "Hold still"),
    "face_good": ("很好，请保持", "Good, hold it"),
    "prelim": ("本机初步结果", "Preliminary result on this device"),
    "prelim_pass": ("初步看是本人", "Looks like the same person"),
    "prelim_grey": ("不能确定，县里人工审核", "Not sure: county staff will review"),
    "prelim_fail": ("初步看不是本人", "Does not look like the same person"),
    "prelim_unknown": (
        "本机无法比对，由服务器判定",
        "Cannot compare on the device: the server decides",
    ),
    "liveness_incomplete": (
        "动作没有做完，服务器可能判定不通过",
        "Not all actions were seen: the server may refuse",
    ),
    "backend_decides": ("最终结果以县农保中心服务器为准", "The county server makes the decision"),
    "retry": ("再试一次", "Try again"),
    "continue": ("继续", "Continue"),
    "docs": ("证件照片（可选）", "Document photos (optional)"),
    "take_photo": ("拍照", "Take photo"),
    "skip": ("跳过", "Skip"),
    "attest": ("协管员确认", "Worker's attestation"),
    "attest_text": ("我今天亲眼见到本人，本人健在", "I saw this person alive today, in person"),
    "attest_dead": (
        "家属当面告诉我本人已去世",
        "The family told me in person that this person has died",
    ),
    "note": ("备注", "Note"),
    "date_of_death": ("去世日期 (YYYY-MM-DD，可不填)", "Date of death (YYYY-MM-DD, optional)"),
    "save": ("保存", "Save"),
    "saved": (
        "已保存在本机，有信号时自动发送",
        "Saved on this device: it is sent when there is signal",
    ),
    "attest_required": ("请先勾选确认", "Tick the attestation first"),
    "location": ("位置", "Location"),
    "no_location": ("暂无定位", "No location yet"),
    "state_pending": ("等待发送", "waiting to send"),
    "state_sending": ("正在发送", "sending"),
    "state_done": ("已处理", "done"),
    "state_failed": ("被拒绝", "refused"),
    "outcome_passed": ("认证通过", "Certified"),
    "outcome_referred": ("转县里人工审核", "Referred to county staff"),
    "outcome_failed": ("比对不通过，已转县里审核", "Face did not match: sent to county staff"),
    "outcome_not_at_home": ("已记录：不在家，改天再访", "Recorded: not at home, visit again"),
    "outcome_reported_dead": ("已转县里核实去世", "Sent to the county to verify the death"),
    "not_found": (
        "名单里没有此人（可能已认证，或不是您负责的村）",
        "Not on your list (already certified, or not in your villages)",
    ),
    "kind_certification": ("人脸认证", "face check"),
    "kind_not_at_home": ("不在家", "not at home"),
    "kind_reported_dead": ("报告去世", "reported dead"),
    "offline": ("离线", "offline"),
    "online": ("在线", "online"),
    "unsent_left": ("还有未发送的走访，请先同步", "Some visits are not sent yet: sync first"),
    "downloaded": ("名单已更新", "List updated"),
    "cannot_reach": ("连不上服务器，稍后再试", "Cannot reach the server: try later"),
}


def t(key: str, lang: str) -> str:
    zh, en = T[key]
    return zh if lang == "zh" else en
