"""What a flood of messages from one sender gets: a polite request to slow down, and an alert to
the school's admin (the counting itself is ``bot/flood.py``). No phone number is shown."""

from __future__ import annotations

from domain.messages import Outbound, Recipient
from handlers.turn import Turn
from storage.people import children_of, school_staff, schools

ALERTED_ROLES = ("admin", "principal")  # the school office first, the principal if there is none


async def slow_down(turn: Turn, *, alert_admin: bool) -> None:
    """Tell the sender once; alert an admin of each of their schools (or of the only school)."""
    turn.reply("slow_down")
    if not alert_admin:
        return
    school_ids = {person.school_id for person in [*turn.guardians, *turn.staff]}
    if not school_ids:
        every = await schools(turn.session)
        school_ids = {every[0].id} if len(every) == 1 and every[0].id is not None else set()
    me = {s.id for s in turn.staff}
    for school_id in sorted(school_ids):
        staff = [s for s in await school_staff(turn.session, school_id) if s.id not in me]
        admin = next((s for role in ALERTED_ROLES for s in staff if s.role == role), None)
        if admin is not None:
            turn.send(Outbound(to=Recipient(phone=admin.phone, staff_id=admin.id, school_id=school_id),
                               template="flood_alert", context=await _who(turn, school_id)))


async def _who(turn: Turn, school_id: int) -> dict[str, object]:
    """The sender as the school knows them: a guardian with their children, a staff member, or
    an account not linked to anyone (with the name it gave itself, shortened)."""
    staff = next((s for s in turn.staff if s.school_id == school_id), None)
    guardians = [g for g in turn.guardians if g.school_id == school_id]
    children = [c for c in await children_of(turn.session, [g.id for g in guardians if g.id])
                if c.student.school_id == school_id]
    return {
        "channel": turn.inbound.channel,
        "staff_name": staff.name if staff else None,
        "staff_role": staff.role if staff else None,
        "guardian_name": guardians[0].name if guardians and not staff else None,
        "children": [{"name": c.name, "class_name": c.school_class.name} for c in children],
        "display_name": " ".join(turn.inbound.display_name.split())[:64],
    }
