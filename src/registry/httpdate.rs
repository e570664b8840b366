//! HTTP dates (RFC 9110 §5.6.7), for `Retry-After` and `Date`: the preferred IMF-fixdate
//! (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms a recipient must still
//! accept, RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37
//! 1994`). Pure; seconds since the Unix epoch, UTC.

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Seconds since 1970-01-01T00:00:00Z of an HTTP date; `None` for anything else.
pub fn parse(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (day, month, year, time) = match parts.as_slice() {
        // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
        [weekday, day, month, year, time, "GMT"] if weekday.ends_with(',') => (*day, *month, year_of(year)?, *time),
        // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`.
        [weekday, date, time, "GMT"] if weekday.ends_with(',') => {
            let mut fields = date.split('-');
            let (day, month, year) = (fields.next()?, fields.next()?, fields.next()?);
            if fields.next().is_some() {
                return None;
            }
            (day, month, two_digit_year(year)?, *time)
        }
        // asctime: `Sun Nov  6 08:49:37 1994`.
        [_, month, day, time, year] => (*day, *month, year_of(year)?, *time),
        _ => return None,
    };
    let day: u32 = number(day, 1, 31)?;
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let mut hms = time.split(':');
    let (h, m, s) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() {
        return None;
    }
    let (h, m, s): (u32, u32, u32) = (number(h, 0, 23)?, number(m, 0, 59)?, number(s, 0, 60)?);
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + u64::from(h) * 3600 + u64::from(m) * 60 + u64::from(s))
}

/// A decimal of one or two digits (four for years) within `lo..=hi`.
fn number(text: &str, lo: u32, hi: u32) -> Option<u32> {
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| (lo..=hi).contains(n))
}

fn year_of(text: &str) -> Option<u32> {
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|y| *y >= 1970)
}

/// RFC 850's two-digit year: 70–99 are 19xx, 00–69 are 20xx.
fn two_digit_year(text: &str) -> Option<u32> {
    let yy = number(text, 0, 99).filter(|_| text.len() == 2)?;
    Some(if yy >= 70 { 1900 + yy } else { 2000 + yy })
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian); `None` when the day
/// does not exist in that month.
fn days_from_civil(year: u32, month: u32, day: u32) -> Option<u64> {
    let lengths = [31, if leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day > lengths[(month - 1) as usize] {
        return None;
    }
    let before_year: u64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
    let before_month: u64 = lengths[..(month - 1) as usize].iter().map(|d| u64::from(*d)).sum();
    Some(before_year + before_month + u64::from(day) - 1)
}

fn leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Sun, 06 Nov 1994 08:49:37 GMT`, the RFC's example, is 784111777.
    const EXAMPLE: u64 = 784_111_777;

    #[test]
    fn reads_the_three_forms_of_the_rfc_example() {
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(EXAMPLE));
        assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT"), Some(EXAMPLE));
        assert_eq!(parse("Sun Nov  6 08:49:37 1994"), Some(EXAMPLE));
        assert_eq!(parse("  Sun, 06 Nov 1994 08:49:37 GMT "), Some(EXAMPLE));
    }

    #[test]
    fn knows_the_epoch_leap_days_and_this_century() {
        assert_eq!(parse("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse("Tue, 29 Feb 2000 00:00:00 GMT"), Some(951_782_400));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:00 GMT"), Some(1_445_412_480));
        assert_eq!(parse("Thursday, 01-Jan-70 00:00:00 GMT"), Some(0));
        assert_eq!(parse("Monday, 01-Jan-24 00:00:00 GMT"), Some(1_704_067_200));
    }

    #[test]
    fn refuses_what_is_not_an_http_date() {
        for bad in [
            "",
            "120",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 006 Nov 1994 08:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "2015-10-21T07:28:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
