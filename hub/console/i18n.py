"""The console's two languages (中文 default, English): every label, code and message.

The language of a request is set once (``LANG``, by the app's middleware from ``?lang=`` or
the ``lang`` cookie) and every function here answers in it, so templates, JSON for the page
scripts and event summaries all speak the same language. Codes of the supervision domain
(violation types, statuses, levels, complaint categories, score rules) are looked up in
hub.supervision.labels, the report's own table, so both say the same words.
"""

from __future__ import annotations

from contextvars import ContextVar

from markupsafe import Markup, escape

from hub.supervision import labels as sv_labels

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LANG_COOKIE = "lang"
LANG: ContextVar[str] = ContextVar("console_lang", default=DEFAULT_LANG)

LABELS: dict[str, tuple[str, str]] = {
    # navigation and frame
    "app": ("安居 监控台", "Anju console"),
    "live": ("实时", "Live"),
    "carpark": ("停车场", "Car park"),
    "violations": ("违规整改", "Violations"),
    "supervision": ("监管考核", "Supervision"),
    "lists": ("名单", "Lists"),
    "audit": ("审计日志", "Audit log"),
    "users": ("账户", "Accounts"),
    "role": ("角色", "Role"),
    "scope": ("范围", "Scope"),
    "disabled": ("已停用", "disabled"),
    "disable": ("停用", "Disable"),
    "save_user": ("新建/重置账户", "Create / reset account"),
    "created": ("创建时间", "Created"),
    "logout": ("退出", "Log out"),
    "login": ("登录", "Log in"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "community": ("小区", "Community"),
    "all": ("全部", "All"),
    "role.guard": ("保安", "Guard"),
    "role.manager": ("物业经理", "Company manager"),
    "role.regulator": ("监管部门", "Regulator"),
    "role.admin": ("管理员", "Admin"),
    # live page
    "events": ("实时事件", "Live events"),
    "gate": ("闸机", "Gate"),
    "gates": ("闸机状态", "Gates"),
    "kind": ("类型", "Kind"),
    "devices": ("设备状态", "Device health"),
    "device": ("设备", "Device"),
    "online": ("在线", "online"),
    "offline": ("离线", "offline"),
    "never": ("未连接", "never seen"),
    "last_heartbeat": ("最后心跳", "Last heartbeat"),
    "rejected_24h": ("拒收消息(24小时)", "Rejected (24 h)"),
    "hub_storage_fault": (
        "中心存储故障: 暂停确认, 消息由代理保留",
        "Hub storage fault: nothing acknowledged, the broker holds the messages",
    ),
    "tamper": ("摄像头遮挡", "camera tamper"),
    "open": ("开闸", "Open"),
    "close": ("关闸", "Close"),
    "reason": ("原因必填", "reason required"),
    "position": ("位置", "Position"),
    "pos.open": ("开启", "open"),
    "pos.closed": ("关闭", "closed"),
    "pos.fault": ("故障", "fault"),
    "pos.unknown": ("未知", "unknown"),
    "cmd.sent": ("已发送", "sent"),
    "cmd.acknowledged": ("已确认", "acknowledged"),
    "cmd.failed": ("失败", "failed"),
    "time": ("时间", "Time"),
    "subject": ("对象", "Subject"),
    "decision": ("结果", "Decision"),
    "evidence": ("证据", "Evidence"),
    "waiting": ("等待事件…", "waiting for events…"),
    "stream.on": ("实时连接", "live"),
    "stream.off": ("连接中断", "reconnecting"),
    "kind.plate_read": ("车牌识别", "plate read"),
    "kind.face_match": ("人脸比对", "face match"),
    "kind.gate_decision": ("通行判定", "gate decision"),
    "kind.gate_state": ("闸机状态", "gate state"),
    "kind.slot_state": ("车位状态", "slot state"),
    "kind.heartbeat": ("心跳", "heartbeat"),
    "kind.device_status": ("设备上下线", "device status"),
    "kind.alarm": ("报警", "alarm"),
    "kind.command_ack": ("指令确认", "command ack"),
    # car park
    "slots": ("车位图", "Slot map"),
    "zones": ("分区统计", "Zone counts"),
    "occupied": ("占用", "occupied"),
    "free": ("空闲", "free"),
    "unknown": ("无数据", "no data"),
    "occupancy_today": ("今日占用趋势", "Occupancy today"),
    "capacity": ("车位总数", "Capacity"),
    "no_slot_data": (
        "尚无车位传感数据：车位图按配置绘制，占用未知。",
        "No slot data received yet: the map is drawn from the configuration, occupancy unknown.",
    ),
    # violations
    "queue": ("违规与整改队列", "Violations and rectifications"),
    "type": ("类型", "Type"),
    "status": ("状态", "Status"),
    "opened": ("发生时间", "Opened"),
    "deadline": ("整改期限", "Deadline"),
    "action": ("操作", "Action"),
    "note": ("备注", "Note"),
    "submit": ("提交", "Submit"),
    "detail": ("详情", "Detail"),
    "history": ("处理记录", "History"),
    "overdue": ("已逾期", "overdue"),
    "due_soon": ("即将到期", "due soon"),
    "supervision_missing": (
        "监管模块不可用，仅显示违规记录。",
        "Supervision module unavailable: violations shown without workflow.",
    ),
    # supervision
    "companies": ("物业企业", "Companies"),
    "score": ("得分", "Score"),
    "level": ("信用等级", "Level"),
    "rank": ("排名", "Rank"),
    "trend": ("得分趋势", "Score trend"),
    "period": ("考核期", "Period"),
    "deductions": ("扣分", "Deducted"),
    "score_items": ("得分明细", "Score items"),
    "no_items": ("本期无扣分或加分", "no deductions or bonuses this period"),
    "bonuses": ("加分", "Bonus"),
    "records": ("记录数", "Records"),
    "zone": ("分区", "Zone"),
    "why": ("原因", "Reason"),
    "report": ("下载半年报告", "Download half-year report"),
    "level.excellent": ("优秀", "excellent"),
    "level.good": ("良好", "good"),
    "level.pass": ("及格", "pass"),
    "level.fail": ("不及格", "fail"),
    # lists
    "residents": ("业主车辆", "Residents' vehicles"),
    "blacklist": ("黑名单", "Blacklist"),
    "passes": ("访客通行证", "Visitor passes"),
    "faces": ("人脸录入状态", "Face enrolment"),
    "plate": ("车牌", "Plate"),
    "owner": ("车主", "Owner"),
    "unit": ("房号", "Unit"),
    "host_unit": ("受访房号", "Host unit"),
    "valid_from": ("生效", "Valid from"),
    "valid_until": ("失效", "Valid until"),
    "hours": ("有效小时数", "Valid for (hours)"),
    "create_pass": ("生成二维码通行证", "Create QR pass"),
    "source": ("来源", "Source"),
    "from_config": ("配置文件", "site config"),
    "from_console": ("控制台", "console"),
    "no_faces": (
        "尚无人脸录入记录（人脸库未建立）；不显示任何照片。",
        "No face enrolment store on this hub yet; no photos are ever shown.",
    ),
    "person": ("人员编号", "Person"),
    "list_role": ("名单", "List"),
    "enrolled": ("录入日期", "Enrolled"),
    "encodings": ("特征数", "Encodings"),
    "consent_until": ("授权有效至", "Consent until"),
    "pin": ("密码", "PIN"),
    "card": ("门禁卡", "Card"),
    "no_photos": (
        "仅保存人脸特征，不保存也不显示照片。",
        "Only face encodings are kept; photos are neither stored nor shown.",
    ),
    "passes_sync": (
        "控制台新建的通行证立即同步到各闸机（断网的闸机在重新连接后收到）。",
        "Passes created here are synced to the gates at once"
        " (an offline gate gets them on reconnect).",
    ),
    "actor": ("操作人", "Actor"),
    "target": ("对象", "Target"),
    # language switch, lists, workflow (issue 17)
    "lang.zh": ("中文", "中文"),
    "lang.en": ("English", "English"),
    "provisional": ("待核实（未计分）", "Awaiting verification (not counted)"),
    "records_behind": ("依据记录", "Records"),
    "kind.carpark_snapshot": ("停车场快照", "car-park snapshot"),
    "kind.passage": ("车辆通行", "vehicle passage"),
    "sev.info": ("提示", "info"),
    "sev.warning": ("警告", "warning"),
    "sev.critical": ("严重", "critical"),
    "verdict.open": ("放行", "opened"),
    "verdict.refuse": ("拒绝", "refused"),
    "reason.resident": ("业主车辆", "resident"),
    "reason.visitor_pass": ("访客通行证", "visitor pass"),
    "reason.blacklisted": ("黑名单", "blacklisted"),
    "reason.unknown": ("未登记", "unknown"),
    "reason.full": ("车位已满", "car park full"),
    "reason.expired": ("已过期", "expired"),
    "reason.manual": ("人工开闸", "opened by hand"),
    "reason.low_confidence": ("识别置信度低", "low confidence"),
    "reason.known": ("已登记", "known"),
    "reason.remote": ("远程开闸", "remote open"),
    "cred.plate": ("车牌", "plate"),
    "cred.face": ("人脸", "face"),
    "cred.qr": ("二维码", "QR code"),
    "cred.card": ("门禁卡", "card"),
    "cred.pin": ("密码", "PIN"),
    "cred.remote": ("远程", "remote"),
    "stranger": ("陌生人", "stranger"),
    "decision.order_fix": ("责令整改", "Order to fix"),
    "decision.solve_now": ("立即解决", "Solve now"),
    "decision.escalate": ("上报", "Escalate"),
    "act.triage": ("分办", "Triage"),
    "act.rectify": ("已整改", "Rectified"),
    "act.verify": ("核查通过", "Verify"),
    "act.reject": ("核查不通过", "Reject"),
    "act.escalate": ("上报", "Escalate"),
    "act.dismiss": ("不予认定", "Dismiss"),
    "act.mark_overdue": ("标记逾期", "Marked overdue"),
    "act.issue": ("下达整改通知", "Order issued"),
    "photo": ("整改照片", "Photo of the fix"),
    "search": ("搜索", "Search"),
    "filter": ("筛选", "Filter"),
    "page_prev": ("上一页", "Previous"),
    "page_next": ("下一页", "Next"),
    "my_todo": ("我的待办", "My to-do"),
    "others": ("其他记录", "Other cases"),
    "case": ("案件", "Case"),
    "order": ("整改通知", "Order"),
    "kind_of.violation": ("违规", "violation"),
    "kind_of.order": ("整改通知", "order"),
    "kind_of.complaint": ("举报", "complaint"),
    "kind_of.gate_command": ("闸机指令", "gate command"),
    "kind_of.user": ("账户", "account"),
    "kind_of.report": ("报告", "report"),
    "act.sent": ("已发送", "sent"),
    "act.acknowledged": ("已确认", "acknowledged"),
    "act.failed": ("失败", "failed"),
    "act.download": ("下载", "downloaded"),
    "act_on_case": ("处理", "Act on this case"),
    "result": ("处理结果", "Result"),
    "status.open": ("未消除", "open"),
    "status.resolved": ("已消除", "resolved"),
    "photo_required": ("整改需附照片", "a fix needs a photo"),
}

# supervision codes: prefix -> the report's table
_CODE_TABLES = {
    "vtype.": sv_labels.VIOLATION_TYPES,
    "status.": sv_labels.STATUSES,
    "category.": sv_labels.COMPLAINT_CATEGORIES,
    "inspection.": sv_labels.INSPECTION_KINDS,
}


def lang() -> str:
    return LANG.get()


def pick_lang(query: str | None, cookie: str | None) -> str:
    for choice in (query, cookie):
        if choice in LANGS:
            return choice
    return DEFAULT_LANG


def _pair(key: str) -> tuple[str, str] | None:
    if key in LABELS:
        return LABELS[key]
    for prefix, table in _CODE_TABLES.items():
        if key.startswith(prefix) and key[len(prefix) :] in table:
            return table[key[len(prefix) :]]
    return None


def text(key: str, default: str | None = None) -> str:
    """The label of ``key`` in the request's language (``default``, else the key, if none)."""
    pair = _pair(key)
    if pair is None:
        return key if default is None else default
    return pair[0] if lang() == "zh" else pair[1]


def code(prefix: str, value: str | None) -> str:
    """A code (a reason, a type) in words; an unknown code is shown as it is."""
    if not value:
        return ""
    return text(f"{prefix}.{value}", value)


def type_label(vtype: str) -> str:
    return code("vtype", vtype)


def status_label(status: str) -> str:
    return code("status", status)


def rule_label(rule: str) -> str:
    return sv_labels.rule_label(rule, lang())


def plain(key: str) -> str:
    """Plain text (for attributes, titles and JSON)."""
    return text(key)


def label(key: str) -> Markup:
    """HTML: the label in the request's language."""
    return Markup('<span class="{}">{}</span>').format(lang(), escape(text(key)))


def labels_json() -> dict[str, str]:
    """For the page scripts: every label in the request's language."""
    return {key: text(key) for key in LABELS}
