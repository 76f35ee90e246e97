"""Chinese and English labels for the published report and the API."""

from __future__ import annotations

LEVELS = {
    "excellent": ("优秀", "Excellent"),
    "good": ("良好", "Good"),
    "pass": ("及格", "Pass"),
    "fail": ("不及格", "Fail"),
}

VIOLATION_TYPES = {
    "blacklisted_vehicle": ("黑名单车辆", "Blacklisted vehicle"),
    "blacklisted_person": ("黑名单人员", "Blacklisted person"),
    "blacklist": ("黑名单告警", "Blacklist alarm"),
    "unknown_vehicle": ("未登记车辆", "Unknown vehicle"),
    "unknown_face_repeated": ("陌生人反复尝试", "Repeated unknown face"),
    "tailgating": ("尾随通行", "Tailgating"),
    "door_held": ("门长时间未关", "Door held open"),
    "door_forced": ("强行开门", "Door forced"),
    "camera_tamper": ("摄像头遮挡/破坏", "Camera blocked or tampered"),
    "gate_fault": ("道闸故障", "Gate fault"),
    "device_offline": ("设备离线", "Device offline"),
    "control_refused": ("伪造或重放的控制指令", "Forged or replayed control message"),
    "keypad_locked": ("密码键盘锁定", "Keypad locked after wrong PINs"),
    "unsolicited_ack": ("未下发指令的回执", "Ack for a command the hub never sent"),
    "fire_lane_parking": ("占用消防通道", "Parking in the fire lane"),
    "no_parking": ("禁停区域停车", "Parking in a no-parking area"),
    "reserved_slot": ("占用专用车位", "Parking in a reserved slot"),
    "visitor_overstay": ("访客车辆超时", "Visitor vehicle overstayed"),
    "outside_marked_slots": ("未在车位内停放", "Parked outside marked slots"),
}

COMPLAINT_CATEGORIES = {
    "security": ("安保", "Security"),
    "parking": ("停车管理", "Parking"),
    "cleaning": ("卫生保洁", "Cleaning"),
    "repair": ("公共部位维修", "Repairs"),
    "service": ("服务态度", "Service"),
    "other": ("其他", "Other"),
}

INSPECTION_KINDS = {
    "open": ("明察", "Open inspection"),
    "unannounced": ("暗访", "Unannounced visit"),
    "spot_check": ("集中抽查", "Spot check"),
}

STATUSES = {
    "new": ("待分办", "New"),
    "assigned": ("整改中", "Assigned"),
    "rectified": ("已整改待核查", "Rectified, to verify"),
    "closed": ("已核查办结", "Verified and closed"),
    "overdue": ("逾期未整改", "Overdue"),
    "escalated": ("已上报", "Escalated"),
    "dismissed": ("不予认定", "Dismissed"),
}

SEVERITIES = {
    "info": ("提示", "info"),
    "warning": ("一般", "warning"),
    "critical": ("严重", "critical"),
}

# The first part of a score item's rule key.
RULE_GROUPS = {
    "violations": ("设备告警违规", "Violation recorded by devices"),
    "service": ("服务故障", "Service fault"),
    "complaints": ("举报查实", "Verified public report"),
    "inspections": ("检查不合格项", "Failed inspection item"),
    "overdue": ("逾期整改", "Rectification overdue"),
    "repeat": ("问题反复出现", "Repeated problem"),
    "bonuses": ("守信激励", "Incentive"),
}

RULES = {
    "service.device_offline": ("设备离线超时", "Device offline beyond the free hours"),
    "service.late_repair": ("故障未在期限内修复", "Fault not repaired by its deadline"),
    "overdue.order": ("责令整改逾期", "Rectification order overdue"),
    "overdue.case": ("限期整改逾期", "Assigned fix overdue"),
    "bonuses.commendation": ("表扬", "Commendation"),
    "bonuses.clean_inspection": ("检查全部合格", "Inspection fully passed"),
    "bonuses.all_orders_on_time": ("整改全部按期完成", "All orders rectified on time"),
}


def zh_en(table: dict[str, tuple[str, str]], key: str, lang: str | None = None) -> str:
    """Both languages ("中文 / English"), or one with ``lang`` "zh" / "en"."""
    zh, en = table.get(key, (key, key))
    if lang == "zh":
        return zh
    if lang == "en":
        return en
    return f"{zh} / {en}" if zh != en else zh


def rule_label(rule: str, lang: str | None = None) -> str:
    """``complaints.parking.warning`` -> ``举报查实 / Verified public report: 停车管理 / …``."""
    parts = rule.split(".")
    for n in (3, 2):
        if ".".join(parts[:n]) in RULES:
            return zh_en(RULES, ".".join(parts[:n]), lang)
    group = zh_en(RULE_GROUPS, parts[0], lang)
    if len(parts) > 1:
        detail = parts[-2] if parts[0] in ("violations", "complaints") else parts[-1]
        table = COMPLAINT_CATEGORIES if parts[0] == "complaints" else VIOLATION_TYPES
        if parts[0] == "repeat":
            table = {**VIOLATION_TYPES, **COMPLAINT_CATEGORIES}
        if parts[0] == "inspections":
            severity = {"zh": SEVERITIES.get(parts[-1], (parts[-1],))[0], "en": parts[-1]}
            return f"{group} ({severity.get(lang or '', parts[-1])})"
        return f"{group}: {zh_en(table, detail, lang)}"
    return group
