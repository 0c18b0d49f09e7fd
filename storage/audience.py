"""Who an audience means: the students of the school, grades, classes or NISNs it names."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.meetings import AudienceError, AudiencePart, parse_audience
from storage.models import SchoolClass, Student
from templates.render import language_or_default, words


async def audience_students(session: AsyncSession, school_id: int, audience: str | list[AudiencePart]) -> list[Student]:
    """The students an audience names within one school, each once, by class then name (not
    those who left the school)."""
    parts = parse_audience(audience) if isinstance(audience, str) else audience
    query = select(Student, SchoolClass).join(SchoolClass, col(SchoolClass.id) == Student.class_id).where(
        Student.school_id == school_id, col(Student.left_at).is_(None))  # a student who left: nobody
    rows = (await session.exec(query.order_by(SchoolClass.name, Student.name))).all()
    chosen: dict[int, Student] = {}
    for part in parts:
        for student, school_class in rows:
            if part.kind == "school" \
                    or (part.kind == "grade" and str(school_class.grade) in part.values) \
                    or (part.kind == "class" and school_class.name in part.values) \
                    or (part.kind == "student" and student.nisn in part.values):
                chosen.setdefault(student.id, student)  # type: ignore[arg-type]
    order = {student.id: n for n, (student, _) in enumerate(rows)}
    return sorted(chosen.values(), key=lambda s: order[s.id])


async def audience_in_words(session: AsyncSession, school_id: int, audience: str, lang: str) -> str:
    """An audience as a person reads it: 'kelas VII-A, Bunga Maulana (VII-B)', never 'class:VII-A'.

    An audience that cannot be read (an old or hand-made row) is said as 'other recipients'
    rather than shown as code.
    """
    said = words(language_or_default(lang))["audience"]
    try:
        parts = parse_audience(audience)
    except AudienceError:
        return said["unknown"]
    nisns = [nisn for part in parts if part.kind == "student" for nisn in part.values]
    students = {student.nisn: f"{student.name} ({school_class.name})" for student, school_class in (
        await session.exec(select(Student, SchoolClass).join(SchoolClass, col(SchoolClass.id) == Student.class_id)
                           .where(Student.school_id == school_id, col(Student.nisn).in_(nisns)))).all()} if nisns else {}
    described = []
    for part in parts:
        if part.kind == "school":
            described.append(said["school"])
        elif part.kind == "grade":
            described.append(said["grade"].format(grade=part.values[0]))
        elif part.kind == "class":
            described.append(said["class"].format(name=part.values[0]))
        else:
            described += [students.get(nisn, said["student"].format(nisn=nisn)) for nisn in part.values]
    return ", ".join(described)
