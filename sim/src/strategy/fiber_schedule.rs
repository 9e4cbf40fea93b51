//! A schedule keyed by fiber: each non-default decision named by the fiber it concerns, the
//! instant of virtual time and that fiber's own step, instead of by its position in the run.
//!
//! A decision log ([`super::DecisionLog`]) numbers decisions by position: decision 412 is "the
//! third of the fibers ready at the 412th choice". Change decision 7 and decision 412 means
//! something else, or nothing. That is what stops a long schedule, such as the 250-fiber drain
//! race of `check-offer-drain`, from shrinking: hardly any decision can be made default without
//! breaking the race that later decisions set up.
//!
//! A [`FiberSchedule`] names each non-default decision by what it is about:
//! - `fiber`, at instant `at`, gives way at its `step`-th scheduling point of that instant
//!   ([`Action::GivesWay`]);
//! - when `fiber` stops running at instant `at`, after its `step`-th scheduling point of that
//!   instant (the `pick`-th time it stops there), fiber `then_runs` runs next, if it is ready
//!   ([`Action::ThenRuns`]).
//!
//! Every other decision is the default: no forced yield, the oldest ready fiber. A fiber is named
//! by its name and, when other fibers of that name are alive, its rank among the live ones
//! ([`FiberRef`]); its steps are counted per name and rank (`SlotCounts`). A change to one
//! fiber's decisions moves no key of another fiber unless it changes what that fiber does or
//! which fibers of its name are alive, so an entry can mostly be dropped while the others keep
//! their meaning: the shrinker deletes entries as it would lines of a program (the drain race of
//! `check-offer-drain`: 421 entries to 18, where the position-keyed log stopped at 360).
//!
//! A run records its decisions in this form when asked ([`crate::RunConfig::key_decisions`]),
//! and follows one ([`crate::RunConfig::schedule`], the strategy `schedule`). Recording a run
//! and following the record gives the same run: each recorded key is unique, and the run that
//! follows meets the same keys in the same order. A followed schedule whose entry is never met,
//! or names a fiber that is not ready when its turn comes, is a replay divergence.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;
use std::time::Duration;

use consumer::rt::FiberId;

/// A fiber as a schedule names it: its name, and its rank among the fibers of that name alive
/// at the time, oldest first (1 for the oldest). Written `name`, or `name [rank]` from the
/// second on. Counting only live fibers keeps a name stable across history that does not
/// matter: "the partition stream of topic1-0" is the live one, however many ended before it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FiberRef {
    pub name: String,
    pub rank: u32,
}

impl fmt::Display for FiberRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rank == 1 {
            f.write_str(&self.name)
        } else {
            write!(f, "{} [{}]", self.name, self.rank)
        }
    }
}

impl FromStr for FiberRef {
    type Err = String;

    fn from_str(text: &str) -> Result<FiberRef, String> {
        let (name, rank) = match text
            .strip_suffix(']')
            .and_then(|rest| rest.rsplit_once(" ["))
        {
            Some((name, rank)) => {
                let rank = parse_digits::<u32>(rank)
                    .filter(|&rank| rank >= 1)
                    .ok_or_else(|| {
                        format!("bad fiber {text:?}: the rank in brackets is a whole number from 1")
                    })?;
                (name, rank)
            }
            None => (text, 1),
        };
        if name.is_empty() {
            return Err(format!("bad fiber {text:?}: its name is empty"));
        }
        Ok(FiberRef {
            name: name.to_string(),
            rank,
        })
    }
}

/// What an entry makes happen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// The fiber gives way to the other ready fibers at its scheduling point.
    GivesWay,
    /// When the fiber stops running, this one runs next (if it is ready).
    ThenRuns(FiberRef),
}

/// One non-default decision (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScheduleEntry {
    /// The instant of virtual time.
    pub at: Duration,
    pub fiber: FiberRef,
    /// The fiber's scheduling points passed in that instant: the one it gives way at (from 1),
    /// or, for [`Action::ThenRuns`], those passed when it stopped (from 0).
    pub step: u32,
    /// For [`Action::ThenRuns`]: which time the fiber stopped after that step (from 1); a fiber
    /// woken and put back to sleep without passing a scheduling point stops there again. 1 for
    /// [`Action::GivesWay`].
    pub pick: u32,
    pub action: Action,
}

/// One line per entry, as fixtures write it and people read it:
/// - `at 2.418000100s, runloop gives way at step 6`
/// - `at 2.418000100s, after pull:topic1-0.left [15] step 0, partition:topic1-0 [2] runs`
/// - `at 0.001000050s, after consumer step 4 (stop 2), offer_and_await:AddSubscription#2.right runs`
///
/// Fiber names hold no `, ` and no ` step ` (they are labels of the code and names of the
/// scenario, which are letters, digits and `-_.+:#`), so the line reads back unambiguously.
impl fmt::Display for ScheduleEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = format_instant(self.at);
        match &self.action {
            Action::GivesWay => {
                write!(f, "at {at}, {} gives way at step {}", self.fiber, self.step)
            }
            Action::ThenRuns(next) => {
                write!(f, "at {at}, after {} step {}", self.fiber, self.step)?;
                if self.pick > 1 {
                    write!(f, " (stop {})", self.pick)?;
                }
                write!(f, ", {next} runs")
            }
        }
    }
}

impl FromStr for ScheduleEntry {
    type Err = String;

    fn from_str(line: &str) -> Result<ScheduleEntry, String> {
        let expected = || {
            format!(
                "bad schedule entry {line:?}: expected `at S.NNNNNNNNNs, FIBER gives way at step N` \
                 or `at S.NNNNNNNNNs, after FIBER step N[ (stop P)], FIBER runs`"
            )
        };
        let (at, what) = line
            .strip_prefix("at ")
            .and_then(|rest| rest.split_once(", "))
            .ok_or_else(expected)?;
        let at = parse_instant(at)?;
        let number = |text: &str| parse_digits::<u32>(text).ok_or_else(expected);
        if let Some((fiber, step)) = what.rsplit_once(" gives way at step ") {
            let step = number(step)?;
            if step == 0 {
                return Err(format!("bad schedule entry {line:?}: steps count from 1"));
            }
            return Ok(ScheduleEntry {
                at,
                fiber: fiber.parse()?,
                step,
                pick: 1,
                action: Action::GivesWay,
            });
        }
        let (stopped, next) = what
            .strip_prefix("after ")
            .and_then(|rest| rest.strip_suffix(" runs"))
            .and_then(|rest| rest.rsplit_once(", "))
            .ok_or_else(expected)?;
        let (stopped, pick) = match stopped
            .strip_suffix(')')
            .and_then(|rest| rest.rsplit_once(" (stop "))
        {
            Some((stopped, pick)) => (stopped, number(pick)?),
            None => (stopped, 1),
        };
        if pick == 0 {
            return Err(format!("bad schedule entry {line:?}: stops count from 1"));
        }
        let (fiber, step) = stopped.rsplit_once(" step ").ok_or_else(expected)?;
        Ok(ScheduleEntry {
            at,
            fiber: fiber.parse()?,
            step: number(step)?,
            pick,
            action: Action::ThenRuns(next.parse()?),
        })
    }
}

/// A schedule keyed by fiber: its entries in the order the run met them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FiberSchedule {
    pub entries: Vec<ScheduleEntry>,
}

/// The longest schedule a fixture may carry: a bound on what a malformed file can make a run
/// look up (a converted PCT run of a committed fixture holds about 700 entries).
pub const MAX_SCHEDULE_ENTRIES: usize = 100_000;

impl FiberSchedule {
    /// The schedule with these entries.
    pub fn new(entries: Vec<ScheduleEntry>) -> FiberSchedule {
        FiberSchedule { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Each entry as its line, for fixtures.
    pub fn to_lines(&self) -> Vec<String> {
        self.entries.iter().map(ScheduleEntry::to_string).collect()
    }

    /// The schedule of a fixture's lines; one line saying which entry is wrong and how.
    pub fn from_lines(lines: &[String]) -> Result<FiberSchedule, String> {
        if lines.len() > MAX_SCHEDULE_ENTRIES {
            return Err(format!(
                "the schedule holds {} entries, more than the {MAX_SCHEDULE_ENTRIES} allowed",
                lines.len()
            ));
        }
        let entries = lines
            .iter()
            .enumerate()
            .map(|(index, line)| {
                line.parse()
                    .map_err(|problem| format!("schedule entry {}: {problem}", index + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let schedule = FiberSchedule { entries };
        let mut keys = BTreeMap::new();
        for (index, entry) in schedule.entries.iter().enumerate() {
            if let Some(earlier) = keys.insert(Key::of(entry), index) {
                return Err(format!(
                    "schedule entries {} and {} decide the same point",
                    earlier + 1,
                    index + 1
                ));
            }
        }
        Ok(schedule)
    }
}

/// `2.418000100s`: whole seconds, nine decimals, `s`.
pub fn format_instant(at: Duration) -> String {
    format!("{}.{:09}s", at.as_secs(), at.subsec_nanos())
}

/// Reads [`format_instant`]'s form back, exactly.
pub fn parse_instant(text: &str) -> Result<Duration, String> {
    let bad =
        || format!("bad instant {text:?}: expected seconds with nine decimals, as 2.418000100s");
    let (secs, nanos) = text
        .strip_suffix('s')
        .and_then(|number| number.split_once('.'))
        .ok_or_else(bad)?;
    if nanos.len() != 9 {
        return Err(bad());
    }
    let secs = parse_digits::<u64>(secs).ok_or_else(bad)?;
    let nanos = parse_digits::<u32>(nanos).ok_or_else(bad)?;
    Ok(Duration::new(secs, nanos))
}

fn parse_digits<N: FromStr>(text: &str) -> Option<N> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Where a decision is taken: what an entry is looked up by. `then_runs` is `false` for a
/// forced-yield question and `true` for a pick.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    at: Duration,
    fiber: FiberRef,
    step: u32,
    pick: u32,
    then_runs: bool,
}

impl Key {
    fn of(entry: &ScheduleEntry) -> Key {
        Key {
            at: entry.at,
            fiber: entry.fiber.clone(),
            step: entry.step,
            pick: entry.pick,
            then_runs: matches!(entry.action, Action::ThenRuns(_)),
        }
    }
}

/// How a run left the schedule it followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScheduleDivergence {
    /// The entry (numbered from 1) was never met.
    NeverMet { entry: usize, what: String },
    /// The entry's fiber was not ready to run when its turn came.
    NotReady { entry: usize, what: String },
    /// The run took a non-default decision at a point no entry can name (before any fiber had
    /// run); only a recording can meet this.
    Unkeyable,
}

impl fmt::Display for ScheduleDivergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleDivergence::NeverMet { entry, what } => {
                write!(f, "schedule entry {entry} was never met ({what})")
            }
            ScheduleDivergence::NotReady { entry, what } => write!(
                f,
                "schedule entry {entry}: the fiber to run next was not ready ({what})"
            ),
            ScheduleDivergence::Unkeyable => f.write_str(
                "a non-default decision came before any fiber had run: no entry can name it",
            ),
        }
    }
}

/// What the run knows of one fiber, to key its decisions.
struct FiberState {
    name: Rc<str>,
    /// Its rank as of its latest poll: decisions name it so (a fiber that stops running is
    /// named as it was while it ran, even if it ended).
    rank: u32,
}

impl FiberState {
    fn named(&self) -> FiberRef {
        FiberRef {
            name: self.name.to_string(),
            rank: self.rank,
        }
    }
}

/// The counts of one name and rank in one instant, whichever fiber holds it: when the fiber
/// ranked first of a name ends and the second moves up in the same instant, its scheduling
/// points go on counting from the first one's, so that no two decision points of a run share a
/// key (a followed entry is met where it was recorded, never earlier).
#[derive(Default)]
struct SlotCounts {
    /// The instant the counts below are of.
    instant: Duration,
    /// Scheduling points passed in that instant.
    steps: u32,
    /// Times its fiber stopped running after the latest of them.
    stops: u32,
}

/// The keyed side of a run's decisions: the fibers' names and counts, the schedule followed (if
/// any) and the keyed record of the decisions taken.
pub(crate) struct Keyed {
    fibers: BTreeMap<u64, FiberState>,
    /// The fibers alive, by name, oldest first: a fiber's rank is its place here.
    live: BTreeMap<Rc<str>, Vec<u64>>,
    slots: BTreeMap<FiberRef, SlotCounts>,
    last_polled: Option<FiberId>,
    /// Whether a schedule is followed (its entries decide, and every other decision is the
    /// default), even an empty one.
    follows: bool,
    following: BTreeMap<Key, usize>,
    followed: Vec<ScheduleEntry>,
    met: Vec<bool>,
    recorded: Vec<ScheduleEntry>,
    divergence: Option<ScheduleDivergence>,
    /// Whether an entry decided the decision being taken (so it is recorded already).
    decided_by_entry: bool,
    /// The key of the pick being taken.
    pick_key: Option<Key>,
    /// The instant whose every pick is recorded, the oldest ready fiber too.
    pin_picks_at: Option<Duration>,
}

impl Keyed {
    pub(crate) fn new(schedule: Option<FiberSchedule>, pin_picks_at: Option<Duration>) -> Keyed {
        let follows = schedule.is_some();
        let followed = schedule
            .map(|schedule| schedule.entries)
            .unwrap_or_default();
        let following = followed
            .iter()
            .enumerate()
            .map(|(index, entry)| (Key::of(entry), index))
            .collect();
        Keyed {
            fibers: BTreeMap::new(),
            live: BTreeMap::new(),
            slots: BTreeMap::new(),
            last_polled: None,
            follows,
            following,
            met: vec![false; followed.len()],
            followed,
            recorded: Vec::new(),
            divergence: None,
            decided_by_entry: false,
            pick_key: None,
            pin_picks_at,
        }
    }

    pub(crate) fn fiber_started(&mut self, fiber: FiberId, name: &str) {
        let name: Rc<str> = match self.live.get_key_value(name) {
            Some((known, _)) => known.clone(),
            None => Rc::from(name),
        };
        let alive = self.live.entry(name.clone()).or_default();
        alive.push(fiber.0);
        let rank = alive.len() as u32;
        self.fibers.insert(fiber.0, FiberState { name, rank });
    }

    /// `fiber` ended (or was killed): the younger fibers of its name move up a rank.
    pub(crate) fn fiber_ended(&mut self, fiber: FiberId) {
        let Some(state) = self.fibers.get(&fiber.0) else {
            return;
        };
        if let Some(alive) = self.live.get_mut(&state.name) {
            alive.retain(|&id| id != fiber.0);
        }
    }

    /// `fiber`'s rank now among the live fibers of its name (as of its latest poll once it
    /// ended).
    fn rank_now(&self, fiber: FiberId, state: &FiberState) -> u32 {
        self.live
            .get(&state.name)
            .and_then(|alive| alive.iter().position(|&id| id == fiber.0))
            .map_or(state.rank, |place| place as u32 + 1)
    }

    /// How a decision names `fiber` now: by its name and its rank among the live fibers of
    /// that name.
    fn named_now(&self, fiber: FiberId) -> Option<FiberRef> {
        let state = self.fibers.get(&fiber.0)?;
        Some(FiberRef {
            name: state.name.to_string(),
            rank: self.rank_now(fiber, state),
        })
    }

    /// How `fiber` is named (as of its latest poll) and its slot's counts, brought to instant
    /// `now`.
    fn slot_at(&mut self, fiber: FiberId, now: Duration) -> Option<(FiberRef, &mut SlotCounts)> {
        let named = self.fibers.get(&fiber.0)?.named();
        let counts = self.slots.entry(named.clone()).or_default();
        if counts.instant != now {
            *counts = SlotCounts {
                instant: now,
                steps: 0,
                stops: 0,
            };
        }
        Some((named, counts))
    }

    /// `fiber` passed a scheduling point at `now`; the key of a yield question there.
    pub(crate) fn scheduling_point(&mut self, fiber: FiberId, now: Duration) {
        if let Some((_, counts)) = self.slot_at(fiber, now) {
            counts.steps += 1;
            counts.stops = 0;
        }
    }

    /// The executor is about to poll `fiber`: its decisions until the next poll name it as it
    /// is now.
    pub(crate) fn polling(&mut self, fiber: FiberId) {
        self.last_polled = Some(fiber);
        let Some(state) = self.fibers.get(&fiber.0) else {
            return;
        };
        let rank = self.rank_now(fiber, state);
        if let Some(state) = self.fibers.get_mut(&fiber.0) {
            state.rank = rank;
        }
    }

    /// The entry that decides `key`, if one does.
    fn entry_for(&self, key: &Key) -> Option<usize> {
        self.following.get(key).copied()
    }

    /// Marks entry `index` met and keeps it in the record: a followed schedule's record is the
    /// entries it met, in the order met, so following the record again gives the same run.
    fn meet(&mut self, index: usize) {
        self.met[index] = true;
        self.decided_by_entry = true;
        self.recorded.push(self.followed[index].clone());
    }

    /// The yield question at `fiber`'s latest scheduling point: `Some(true)` when an entry says
    /// it gives way, `Some(false)` when the schedule is followed and none does, `None` when no
    /// schedule is followed. Then [`Keyed::yield_taken`].
    pub(crate) fn gives_way(&mut self, fiber: FiberId, now: Duration) -> Option<bool> {
        self.decided_by_entry = false;
        if !self.follows {
            return None;
        }
        let Some(key) = self.yield_key(fiber, now) else {
            return Some(false);
        };
        let Some(index) = self.entry_for(&key) else {
            return Some(false);
        };
        self.meet(index);
        Some(true)
    }

    /// Records a forced yield that no entry decided.
    pub(crate) fn yield_taken(&mut self, fiber: FiberId, now: Duration, yielded: bool) {
        if self.decided_by_entry || !yielded {
            return;
        }
        match self.yield_key(fiber, now) {
            Some(key) => self.recorded.push(ScheduleEntry {
                at: key.at,
                fiber: key.fiber,
                step: key.step,
                pick: 1,
                action: Action::GivesWay,
            }),
            None => self.unkeyable(),
        }
    }

    fn yield_key(&mut self, fiber: FiberId, now: Duration) -> Option<Key> {
        let (named, counts) = self.slot_at(fiber, now)?;
        Some(Key {
            at: now,
            step: counts.steps,
            fiber: named,
            pick: 1,
            then_runs: false,
        })
    }

    /// The key of the pick about to be made: after the last polled fiber stopped. Counts the
    /// stop, so ask it once per pick.
    fn pick_key(&mut self, now: Duration) -> Option<Key> {
        let fiber = self.last_polled?;
        let (named, counts) = self.slot_at(fiber, now)?;
        counts.stops += 1;
        Some(Key {
            at: now,
            step: counts.steps,
            pick: counts.stops,
            fiber: named,
            then_runs: true,
        })
    }

    /// The pick among `ready` at `now`: `Some(index)` when the schedule is followed (an entry's
    /// fiber, else 0), `None` when none is. Then [`Keyed::pick_taken`].
    pub(crate) fn pick(&mut self, ready: &[FiberId], now: Duration) -> Option<usize> {
        self.decided_by_entry = false;
        self.pick_key = self.pick_key(now);
        if !self.follows {
            return None;
        }
        let Some(index) = self.pick_key.as_ref().and_then(|key| self.entry_for(key)) else {
            return Some(0);
        };
        let Action::ThenRuns(next) = &self.followed[index].action else {
            return Some(0);
        };
        let position = ready
            .iter()
            .position(|&fiber| self.named_now(fiber).as_ref() == Some(next));
        match position {
            Some(position) => {
                self.meet(index);
                Some(position)
            }
            None => {
                if self.divergence.is_none() {
                    self.divergence = Some(ScheduleDivergence::NotReady {
                        entry: index + 1,
                        what: self.followed[index].to_string(),
                    });
                }
                Some(0)
            }
        }
    }

    /// Records the pick of `ready[index]` when no entry decided it and it is not the oldest
    /// ready fiber, or its instant is pinned (every pick there is recorded: see
    /// [`crate::RunConfig::pin_picks_at`]).
    pub(crate) fn pick_taken(&mut self, ready: &[FiberId], index: usize, now: Duration) {
        let pinned = self.pin_picks_at == Some(now);
        if self.decided_by_entry || (index == 0 && !pinned) {
            return;
        }
        let next = self.named_now(ready[index]);
        match (self.pick_key.take(), next) {
            (Some(key), Some(next)) => self.recorded.push(ScheduleEntry {
                at: key.at,
                fiber: key.fiber,
                step: key.step,
                pick: key.pick,
                action: Action::ThenRuns(next),
            }),
            _ => self.unkeyable(),
        }
    }

    fn unkeyable(&mut self) {
        if self.divergence.is_none() {
            self.divergence = Some(ScheduleDivergence::Unkeyable);
        }
    }

    /// The keyed record of the run's decisions, and how it left the schedule it followed.
    pub(crate) fn finish(&mut self) -> (FiberSchedule, Option<ScheduleDivergence>) {
        let never_met =
            self.met
                .iter()
                .position(|&met| !met)
                .map(|index| ScheduleDivergence::NeverMet {
                    entry: index + 1,
                    what: self.followed[index].to_string(),
                });
        (
            FiberSchedule::new(std::mem::take(&mut self.recorded)),
            self.divergence.take().or(never_met),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fiber names with and without a rank read back to themselves.
    #[test]
    fn fiber_refs_round_trip() {
        for text in ["runloop", "stream_control.next.left [17]", "a [b] [2]"] {
            let fiber: FiberRef = text.parse().unwrap();
            assert_eq!(fiber.to_string(), text);
        }
        let ranked: FiberRef = "x.left [3]".parse().unwrap();
        assert_eq!((ranked.name.as_str(), ranked.rank), ("x.left", 3));
        for bad in ["", " [2]", "x [0]", "x [-1]", "x [y]"] {
            assert!(bad.parse::<FiberRef>().is_err(), "{bad:?}");
        }
    }

    /// Instants are written with nine decimals and read back exactly; other forms are refused.
    #[test]
    fn instants_round_trip_exactly() {
        let at = Duration::new(2, 418_000_100);
        assert_eq!(format_instant(at), "2.418000100s");
        assert_eq!(parse_instant("2.418000100s"), Ok(at));
        for bad in [
            "2.4s",
            "2.418000100",
            "-1.000000000s",
            "x.000000000s",
            "2.4180001000s",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad:?}");
        }
    }

    /// Entries survive their line form, and malformed ones are refused with the entry's number.
    #[test]
    fn entries_survive_the_line_form() {
        let schedule = FiberSchedule::new(vec![
            ScheduleEntry {
                at: Duration::new(2, 418_000_100),
                fiber: "runloop".parse().unwrap(),
                step: 3,
                pick: 1,
                action: Action::GivesWay,
            },
            ScheduleEntry {
                at: Duration::new(2, 418_000_100),
                fiber: "next.left [4]".parse().unwrap(),
                step: 0,
                pick: 2,
                action: Action::ThenRuns("offer:X#3.left".parse().unwrap()),
            },
        ]);
        let lines = schedule.to_lines();
        assert_eq!(
            lines,
            [
                "at 2.418000100s, runloop gives way at step 3",
                "at 2.418000100s, after next.left [4] step 0 (stop 2), offer:X#3.left runs",
            ]
        );
        assert_eq!(FiberSchedule::from_lines(&lines), Ok(schedule.clone()));
        let mut twice = lines.clone();
        twice.push(lines[0].clone());
        let error = FiberSchedule::from_lines(&twice).unwrap_err();
        assert!(error.contains("entries 1 and 3"), "{error}");
        for bad in [
            "at 2.418000100s, runloop gives way at step 0",
            "at 2.418000100s, runloop gives way",
            "at 2.4s, runloop gives way at step 1",
            "2.418000100s, runloop gives way at step 1",
            "at 2.418000100s, after runloop step 1, runs",
            "at 2.418000100s, after runloop step x, a runs",
            "at 2.418000100s, after runloop step 1 (stop 0), a runs",
            "at 2.418000100s, after runloop, a runs",
        ] {
            let error = FiberSchedule::from_lines(&[bad.to_string()]).unwrap_err();
            assert!(error.starts_with("schedule entry 1:"), "{bad:?}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }
}
