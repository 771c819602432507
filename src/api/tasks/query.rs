//! The task list's filters and ordering (a subset of pulpcore's `TaskFilter`), and the
//! ISO 8601 date/time parsing they and the purge body share.

use std::cmp::Ordering;
use std::time::SystemTime;

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

use crate::api::error::{ApiError, FieldErrors};
use crate::api::list::query_pairs;
use crate::tasks::{Task, TaskState};

/// The filters the task list accepts.
pub(crate) const FILTERS: [&str; 18] = [
    "state",
    "state__in",
    "name",
    "name__contains",
    "name__in",
    "logging_cid",
    "logging_cid__contains",
    "created_resources",
    "reserved_resources",
    "reserved_resources__in",
    "exclusive_resources",
    "exclusive_resources__in",
    "shared_resources",
    "shared_resources__in",
    "started_at__gte",
    "started_at__lte",
    "finished_at__gte",
    "finished_at__lte",
];
/// The fields `ordering` accepts.
pub(crate) const ORDERING: [&str; 6] = [
    "pulp_created",
    "pulp_last_updated",
    "started_at",
    "finished_at",
    "name",
    "state",
];

/// One filter, its value checked.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    States(Vec<TaskState>),
    Name(String),
    NameContains(String),
    NameIn(Vec<String>),
    Cid(String),
    CidContains(String),
    Created(String),
    /// Reserved exclusively or shared (`shared:<href>` in the record), any of these hrefs.
    Reserved(Vec<String>),
    /// Reserved exclusively, any of these hrefs.
    Exclusive(Vec<String>),
    /// Reserved shared, any of these hrefs.
    Shared(Vec<String>),
    StartedGte(SystemTime),
    StartedLte(SystemTime),
    FinishedGte(SystemTime),
    FinishedLte(SystemTime),
}

/// The checked filters and ordering of one task list request.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskQuery {
    filters: Vec<Filter>,
    ordering: Vec<(String, bool)>,
}

/// A comma-separated `__in` value (empty items dropped).
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// How pulpcore records a shared reservation of `href`.
fn shared(href: &str) -> String {
    format!("shared:{href}")
}

/// django-filter's message for a value outside a choice list.
fn bad_choice(value: &str) -> String {
    format!("Select a valid choice. {value} is not one of the available choices.")
}

impl TaskQuery {
    /// Checks the filter values of `raw` (names and ordering fields were checked by
    /// `ListQuery::parse`); every bad value is reported at once, under its parameter.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::default();
        let mut query = TaskQuery::default();
        for (key, value) in query_pairs(raw) {
            // django-filter ignores an empty value.
            if value.is_empty() {
                continue;
            }
            let time = |errors: &mut FieldErrors| {
                let parsed = parse_datetime(&value);
                if parsed.is_none() {
                    errors.push(&key, "Enter a valid date/time.");
                }
                parsed
            };
            let filter = match key.as_str() {
                "state" | "state__in" => {
                    let mut states = Vec::new();
                    for s in value
                        .split(',')
                        .filter(|s| key == "state__in" || !s.is_empty())
                    {
                        match TaskState::parse(s.trim()) {
                            Some(state) => states.push(state),
                            None => errors.push(&key, bad_choice(s)),
                        }
                    }
                    Some(Filter::States(states))
                }
                "name" => Some(Filter::Name(value.clone())),
                "name__contains" => Some(Filter::NameContains(value.clone())),
                "name__in" => Some(Filter::NameIn(list(&value))),
                "logging_cid" => Some(Filter::Cid(value.clone())),
                "logging_cid__contains" => Some(Filter::CidContains(value.clone())),
                "created_resources" => Some(Filter::Created(value.clone())),
                "reserved_resources" => Some(Filter::Reserved(vec![value.clone()])),
                "reserved_resources__in" => Some(Filter::Reserved(list(&value))),
                "exclusive_resources" => Some(Filter::Exclusive(vec![value.clone()])),
                "exclusive_resources__in" => Some(Filter::Exclusive(list(&value))),
                "shared_resources" => Some(Filter::Shared(vec![value.clone()])),
                "shared_resources__in" => Some(Filter::Shared(list(&value))),
                "started_at__gte" => time(&mut errors).map(Filter::StartedGte),
                "started_at__lte" => time(&mut errors).map(Filter::StartedLte),
                "finished_at__gte" => time(&mut errors).map(Filter::FinishedGte),
                "finished_at__lte" => time(&mut errors).map(Filter::FinishedLte),
                "ordering" => {
                    query.ordering = value
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(|t| match t.strip_prefix('-') {
                            Some(f) => (f.to_string(), true),
                            None => (t.to_string(), false),
                        })
                        .collect();
                    None
                }
                _ => None,
            };
            query.filters.extend(filter);
        }
        errors.into_result()?;
        Ok(query)
    }

    /// Does `task` pass every filter?
    fn keeps(&self, task: &Task) -> bool {
        let at_least = |at: Option<SystemTime>, t: &SystemTime| at.is_some_and(|a| a >= *t);
        let at_most = |at: Option<SystemTime>, t: &SystemTime| at.is_some_and(|a| a <= *t);
        self.filters.iter().all(|f| match f {
            Filter::States(states) => states.contains(&task.state),
            Filter::Name(name) => task.name == *name,
            Filter::NameContains(part) => task.name.contains(part.as_str()),
            Filter::NameIn(names) => names.contains(&task.name),
            Filter::Cid(cid) => task.logging_cid == *cid,
            Filter::CidContains(part) => task.logging_cid.contains(part.as_str()),
            Filter::Created(href) => task.created_resources.contains(href),
            Filter::Reserved(hrefs) => hrefs.iter().any(|h| {
                task.reserved_resources.contains(h) || task.reserved_resources.contains(&shared(h))
            }),
            Filter::Exclusive(hrefs) => hrefs.iter().any(|h| task.reserved_resources.contains(h)),
            Filter::Shared(hrefs) => hrefs
                .iter()
                .any(|h| task.reserved_resources.contains(&shared(h))),
            Filter::StartedGte(t) => at_least(task.started_at, t),
            Filter::StartedLte(t) => at_most(task.started_at, t),
            Filter::FinishedGte(t) => at_least(task.finished_at, t),
            Filter::FinishedLte(t) => at_most(task.finished_at, t),
        })
    }

    /// The tasks passing the filters, in the asked order, then newest first.
    pub(crate) fn select<'a>(&self, tasks: &'a [std::sync::Arc<Task>]) -> Vec<&'a Task> {
        let mut kept: Vec<&Task> = tasks
            .iter()
            .map(AsRef::as_ref)
            .filter(|t| self.keeps(t))
            .collect();
        kept.sort_by(|a, b| {
            for (field, desc) in &self.ordering {
                let ord = compare(field, a, b);
                let ord = if *desc { ord.reverse() } else { ord };
                if ord.is_ne() {
                    return ord;
                }
            }
            b.created.cmp(&a.created).then(b.id.cmp(&a.id))
        });
        kept
    }
}

/// `a` against `b` on `field`, ascending; an unset time sorts after every set one (as
/// PostgreSQL sorts NULLs).
fn compare(field: &str, a: &Task, b: &Task) -> Ordering {
    let nulls_last = |x: Option<SystemTime>, y: Option<SystemTime>| match (x, y) {
        (Some(x), Some(y)) => x.cmp(&y),
        (x, y) => y.is_some().cmp(&x.is_some()),
    };
    match field {
        "name" => a.name.cmp(&b.name),
        "state" => a.state.as_str().cmp(b.state.as_str()),
        "started_at" => nulls_last(a.started_at, b.started_at),
        "finished_at" => nulls_last(a.finished_at, b.finished_at),
        "pulp_last_updated" => a.updated.cmp(&b.updated),
        _ => a.created.cmp(&b.created),
    }
}

/// An ISO 8601 date or date-time as Django parses one: `YYYY-MM-DD`, optionally followed by
/// `T` (or a space) and `hh:mm[:ss[.fraction]]`, optionally followed by `Z` or `±hh[:mm]`. No
/// zone means UTC (pulpcore's `TIME_ZONE`).
pub(crate) fn parse_datetime(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let num = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if text.len() < 10 || !text.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = text.split_at(10);
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month = Month::try_from(u8::try_from(num(m)?).ok()?).ok()?;
    let date = Date::from_calendar_date(
        i32::try_from(num(y)?).ok()?,
        month,
        u8::try_from(num(d)?).ok()?,
    )
    .ok()?;
    let (time, offset) = match rest.strip_prefix(['T', 't', ' ']) {
        None if rest.is_empty() => (Time::MIDNIGHT, UtcOffset::UTC),
        None => return None,
        Some(rest) => parse_time(rest)?,
    };
    Some(SystemTime::from(
        PrimitiveDateTime::new(date, time).assume_offset(offset),
    ))
}

/// `hh:mm[:ss[.fraction]][Z|±hh[:mm]]`.
fn parse_time(text: &str) -> Option<(Time, UtcOffset)> {
    // Every accepted form is ASCII; byte slicing below relies on it.
    if !text.is_ascii() {
        return None;
    }
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    let two = |s: &str| digits(s).then(|| s.parse::<u8>().ok()).flatten();
    let split = text.find(['Z', 'z', '+', '-']).unwrap_or(text.len());
    let (clock, zone) = text.split_at(split);
    let offset = match zone {
        "" => UtcOffset::UTC,
        "Z" | "z" => UtcOffset::UTC,
        _ => {
            let sign: i8 = if zone.starts_with('-') { -1 } else { 1 };
            let zone = &zone[1..];
            let (h, m) = match zone.split_once(':') {
                Some((h, m)) => (two(h)?, two(m)?),
                None if zone.len() == 4 => (two(&zone[..2])?, two(&zone[2..])?),
                None => (two(zone)?, 0),
            };
            let (h, m) = (i8::try_from(h).ok()?, i8::try_from(m).ok()?);
            UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        }
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f))
            if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (hms, Some(f))
        }
        Some(_) => return None,
        None => (clock, None),
    };
    let mut fields = hms.split(':');
    let h = two(fields.next()?)?;
    let m = two(fields.next()?)?;
    let s = match fields.next() {
        Some(s) => two(s)?,
        None if fraction.is_none() => 0,
        None => return None,
    };
    if fields.next().is_some() {
        return None;
    }
    let nanos = fraction.map_or(Some(0), |f| format!("{f:0<9}").parse::<u32>().ok())?;
    Some((Time::from_hms_nano(h, m, s, nanos).ok()?, offset))
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::parse_datetime;

    #[test]
    fn dates_parse_as_django_does() {
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        let rows: &[(&str, Option<f64>)] = &[
            ("2026-05-04", Some(1_777_852_800.0)),
            ("2026-05-04T10:11", Some(1_777_889_460.0)),
            ("2026-05-04 10:11:12", Some(1_777_889_472.0)),
            ("2026-05-04T10:11:12.5Z", Some(1_777_889_472.5)),
            ("2026-05-04T10:11:12+02:00", Some(1_777_882_272.0)),
            ("2026-05-04T10:11:12-0130", Some(1_777_894_872.0)),
            ("2026-05-04T10:11:12+02", Some(1_777_882_272.0)),
            ("2026-02-30", None),
            // Not ASCII where a zone is read: refused, never sliced mid-character.
            ("2026-05-04T10:11-a\u{e9}b", None),
            ("2026-05-04T10:11:12+\u{e9}\u{e9}", None),
            ("2026-5-4", None),
            ("2026-05-04T", None),
            ("2026-05-04T10", None),
            ("2026-05-04T10:11:12.", None),
            ("2026-05-04T10:11:12+2:00", None),
            ("2026-05-04T24:00", None),
            ("2026-05-04x10:11", None),
            ("tomorrow", None),
            ("2026-05-0é", None),
            ("", None),
        ];
        for (text, want) in rows {
            assert_eq!(parse_datetime(text).map(secs), *want, "{text:?}");
        }
    }
}
