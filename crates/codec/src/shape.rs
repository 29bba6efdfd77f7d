//! Shapes: what a bitmap says about the layout of every frame that carries
//! it, worked out once per spec and bitmap.
//!
//! Frames with the same data fields have their fixed fields at the same
//! distances from the variable field before them, and their runs of
//! characters of one class (see [`crate::decode`]) between the same
//! places. A [`Shape`] records that, with every place in the frame written
//! as a *segment* (the stretch after the n-th variable field, or from the
//! first field) and an offset in it. A frame of a known shape is then
//! decoded in two steps: read the length prefixes in turn (only they
//! depend on each other), and check each run. The decoder records only
//! where each segment starts; a field's start is worked out when it is
//! read (its segment's start plus its offset), so a decode does no work
//! per fixed field. The walk over every field that a frame of an unknown
//! shape needs ([`crate::decode`]'s fast path) is one dependent step per
//! field; this is one per variable field.
//!
//! A spec keeps the shapes of up to [`SLOTS`] bitmaps, in slots that are
//! filled once and never changed (a [`OnceLock`] each: reading one is a
//! plain load, and threads decoding with the same spec share them). A
//! shape is learnt from the first frame of its bitmap that the walk
//! accepts, or the first message of it that the encoder writes, so broken
//! input never costs an allocation; a bitmap whose slot another bitmap
//! holds is decoded by the walk, as before. The encoder writes a message
//! of a known shape with it too (`encode::encode_shaped`).

use std::sync::OnceLock;

use crate::decode::{
    CheckFn, FieldPlan, JOINS, RANKS, ascii_prefix, bcd_fixed_at, check_run, class, mode,
    read_rare, run_check, signed_ok,
};
use crate::encode::hex_upper;
use crate::spec::Spec;
use crate::types::FieldNo;

/// How many bitmaps' shapes a spec keeps.
pub(crate) const SLOTS: usize = 64;

/// At most how many segments a shape has: one more than the variable
/// fields in a message (a 1987 authorization has about five).
pub(crate) const SEGS: usize = 16;

/// In [`Shape::rank_of`]: no such field.
const NO_RANK: u8 = u8::MAX;

/// A place in a frame: `off` bytes into segment `seg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    seg: u8,
    off: u16,
}

/// A check over the bytes from one place to another: a run of one class
/// ([`run_check`]), or one of the fixed fields that the walk reads on
/// their own (`x+n`, BCD).
#[derive(Clone, Copy, Debug)]
struct Check {
    run: CheckFn,
    /// Whether the encoder writes these bytes valid by construction, so
    /// that it need not check them: a BCD field's digits are checked as
    /// they are packed, and a run of hex text is written from bytes
    /// (with the ASCII digits of the length prefixes in it).
    built: bool,
    /// For BCD: the field's plan mode.
    mode: u8,
    from: Place,
    to: Place,
}

/// How the encoder writes a field, worked out from its plan: a fixed
/// ASCII or raw field is a copy of a length known in advance (one of the
/// `COPY_*` size classes, so that the copy is made of fixed-size moves
/// without looking at the length); a field with an ASCII prefix is the
/// prefix and a copy; anything else goes through `encode::put_field`.
pub(crate) mod put {
    use crate::decode::{FieldPlan, mode};

    /// 1 to 3 bytes.
    pub(crate) const COPY_3: u8 = 0;
    /// 4 to 7 bytes.
    pub(crate) const COPY_7: u8 = 1;
    /// 8 to 15 bytes.
    pub(crate) const COPY_15: u8 = 2;
    /// 16 to 32 bytes.
    pub(crate) const COPY_32: u8 = 3;
    /// 33 to 64 bytes.
    pub(crate) const COPY_64: u8 = 4;
    /// A fixed BCD number of four to eight digits, even or padded with a
    /// zero nibble first (packed as one word: `encode::pack_4_to_8`).
    pub(crate) const BCD_SHORT: u8 = 5;
    /// An ASCII length prefix, then a copy.
    pub(crate) const VAR: u8 = 6;
    /// Anything else.
    pub(crate) const OTHER: u8 = 7;

    pub(crate) fn of(plan: FieldPlan) -> u8 {
        if plan.mode & mode::KIND == mode::BCD_FIXED {
            let odd = plan.mode & mode::BCD_ODD != 0;
            let zero_first =
                plan.mode & (mode::BCD_PAD_FIRST | mode::BCD_PAD_F) == mode::BCD_PAD_FIRST;
            let short = (4..=8).contains(&plan.vmax) && plan.vmin == plan.vmax;
            return if short && (!odd || zero_first) {
                BCD_SHORT
            } else {
                OTHER
            };
        }
        if plan.shift != 0 || plan.vmin > plan.vmax {
            return OTHER;
        }
        if plan.mode == mode::FIXED {
            return match plan.len {
                1..=3 => COPY_3,
                4..=7 => COPY_7,
                8..=15 => COPY_15,
                16..=32 => COPY_32,
                33..=64 => COPY_64,
                _ => OTHER,
            };
        }
        if (1..=4).contains(&plan.mode) {
            VAR
        } else {
            OTHER
        }
    }
}

/// A field whose end depends on the frame: it ends its segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Step {
    /// Where it starts (its length prefix) in its segment.
    at: u16,
    /// Its rank among the message's fields.
    rank: u8,
    /// Its field index (number minus one), for [`read_rare`].
    index: u8,
    plan: FieldPlan,
}

/// The layout of the frames of one bitmap. See the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct Shape {
    /// The data bits of the bitmap (see `decode::data_bits`).
    key: [u64; 3],
    /// Whether the bitmap fits a shape: at most [`RANKS`] fields, fewer
    /// than [`SEGS`] variable ones, less than 64 KiB of fixed fields in a
    /// row. A bitmap that does not fit keeps its slot all the same, so
    /// that it is not worked out again.
    usable: bool,
    /// Whether a step is read by [`read_rare`].
    rare: bool,
    ranks: u8,
    steps: u8,
    checks: u8,
    /// Where the last field ends, in the last segment.
    tail: u16,
    /// For the encoder: at most how many bytes the fields that are not
    /// steps take (their prefix, and their longest value at the plan's
    /// size).
    fixed: usize,
    /// For the encoder: each field's segment, how it writes the field
    /// ([`put`]), and the field's plan.
    put: [(u8, u8, FieldPlan); RANKS],
    /// For the encoder: how many bitmaps the fields need (1 or 2; 0 for
    /// three, whose head the encoder works out each time), and their hex
    /// text with the indicator bit.
    maps: u8,
    maps_text: [u8; 32],
    /// Where each field's data starts: `start[r]` bytes after the place
    /// that the decoder records in row `slot[r]` of its table (see
    /// [`Shape::fill`]): its segment's start, or for a step read by
    /// [`read_rare`], that step's data start (then `start[r]` is 0).
    start: [u16; RANKS],
    /// See `start`.
    slot: [u8; RANKS],
    /// Each field's rank, by field index; [`NO_RANK`] for the fields the
    /// bitmap leaves out.
    rank_of: [u8; FieldNo::MAX as usize],
    step: [Step; SEGS - 1],
    check: [Check; 2 * RANKS + 1],
}

impl Shape {
    /// The shape of the frames whose data fields are `key`, with `plans`.
    pub(crate) fn build(plans: &[FieldPlan], key: [u64; 3]) -> Shape {
        const NOWHERE: Place = Place { seg: 0, off: 0 };
        let mut s = Shape {
            key,
            usable: false,
            rare: false,
            ranks: 0,
            steps: 0,
            checks: 0,
            tail: 0,
            fixed: 0,
            put: [(0, put::OTHER, FieldPlan::ABSENT); RANKS],
            maps: 0,
            maps_text: [0; 32],
            start: [0; RANKS],
            slot: [0; RANKS],
            rank_of: [NO_RANK; FieldNo::MAX as usize],
            step: [Step {
                at: 0,
                rank: 0,
                index: 0,
                plan: FieldPlan::ABSENT,
            }; SEGS - 1],
            check: [Check {
                run: signed_ok,
                built: false,
                mode: 0,
                from: NOWHERE,
                to: NOWHERE,
            }; 2 * RANKS + 1],
        };
        s.usable = s.lay_out(plans).is_some();
        if key[2] == 0 {
            let words = if key[1] == 0 {
                [key[0], 0]
            } else {
                [key[0] | 1 << 63, key[1]]
            };
            s.maps = 1 + u8::from(key[1] != 0);
            for (w, text) in words.iter().zip(s.maps_text.chunks_exact_mut(16)) {
                hex_upper(text, &w.to_be_bytes());
            }
        }
        s
    }

    /// Follows the decoder's walk (`decode::walk`) with places for
    /// positions; `None` when the bitmap does not fit a shape.
    fn lay_out(&mut self, plans: &[FieldPlan]) -> Option<()> {
        let (mut seg, mut off) = (0u8, 0u16);
        // The bytes from `run` to the current place all belong to `class`.
        let (mut run, mut class) = (Place { seg, off }, class::ANY);
        let mut rank = 0usize;
        let key = self.key;
        for (w, &word) in key.iter().enumerate() {
            let mut bits = word.reverse_bits();
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let plan = *plans.get(i)?;
                let r = rank;
                rank += 1;
                let here = Place { seg, off };
                let kind = plan.mode & mode::KIND;
                *self.rank_of.get_mut(i)? = u8::try_from(r).ok()?;
                *self.slot.get_mut(r)? = seg;
                *self.start.get_mut(r)? = off;
                *self.put.get_mut(r)? = (seg, put::of(plan), plan);
                if plan.mode == mode::FIXED || plan.mode == mode::SIGNED || kind == mode::BCD_FIXED
                {
                    self.fixed += usize::from(plan.prefix) + (usize::from(plan.vmax) << plan.shift);
                }
                if plan.mode == mode::SIGNED || kind == mode::BCD_FIXED {
                    // Fixed, but checked on their own, like the walk does:
                    // the run before ends, and a new one starts after.
                    off = off.checked_add(plan.len)?;
                    self.push(class, run, here)?;
                    let check: CheckFn = if kind == mode::BCD_FIXED {
                        bcd_fixed_at
                    } else {
                        signed_ok
                    };
                    self.push_check(check, plan.mode, here, Place { seg, off })?;
                    (run, class) = (Place { seg, off }, class::ANY);
                    continue;
                }
                let start = if plan.mode == mode::FIXED {
                    off = off.checked_add(plan.len)?;
                    here.off
                } else {
                    *self.step.get_mut(usize::from(seg))? = Step {
                        at: here.off,
                        rank: u8::try_from(r).ok()?,
                        index: u8::try_from(i).ok()?,
                        plan,
                    };
                    seg += 1;
                    off = 0;
                    if plan.mode > 4 {
                        // Read and checked by `read_rare`, which gives
                        // its data start.
                        self.rare = true;
                        *self.slot.get_mut(r)? = u8::try_from(SEGS).ok()? + seg - 1;
                        *self.start.get_mut(r)? = 0;
                        self.push(class, run, here)?;
                        (run, class) = (Place { seg, off }, class::ANY);
                        continue;
                    }
                    here.off.checked_add(u16::from(plan.mode))?
                };
                *self.start.get_mut(r)? = start;
                if plan.class != class | JOINS {
                    self.push(class, run, here)?;
                    class = plan.class & !JOINS;
                    run = if plan.class & JOINS != 0 {
                        here
                    } else {
                        Place {
                            seg: here.seg,
                            off: start,
                        }
                    };
                }
            }
        }
        self.push(class, run, Place { seg, off })?;
        self.ranks = u8::try_from(rank).ok()?;
        self.steps = seg;
        self.tail = off;
        Some(())
    }

    /// Whether the bitmap fits a shape.
    #[cfg(any(test, feature = "arbitrary"))]
    pub(crate) fn usable(&self) -> bool {
        self.usable
    }

    /// A run of `class` from `from` to `to` (none for raw bytes).
    fn push(&mut self, class: u8, from: Place, to: Place) -> Option<()> {
        if class == class::ANY {
            return Some(());
        }
        self.push_check(run_check(class)?, mode::FIXED, from, to)?;
        self.built_last(class == class::HEX);
        Some(())
    }

    /// Marks the last check as one of bytes the encoder writes valid.
    fn built_last(&mut self, built: bool) {
        let last = usize::from(self.checks).wrapping_sub(1);
        if let Some(c) = self.check.get_mut(last) {
            c.built |= built;
        }
    }

    fn push_check(&mut self, run: CheckFn, mode: u8, from: Place, to: Place) -> Option<()> {
        *self.check.get_mut(usize::from(self.checks))? = Check {
            run,
            built: mode & mode::KIND == mode::BCD_FIXED,
            mode,
            from,
            to,
        };
        self.checks += 1;
        Some(())
    }

    /// Reads the fields of `buf` (the first at `first`) with every check
    /// of the walk; `false` when the walk would refuse the frame. Records
    /// in `starts` what [`Shape::start`] needs to place each field: the
    /// start of every segment in row `seg`, and the data start of each
    /// step that [`read_rare`] reads in row `SEGS + step`. (The walk
    /// records every field's start instead; this is a few stores where
    /// placing all fields was about a hundred instructions.) `starts` is
    /// unspecified when it returns `false`.
    pub(crate) fn fill(
        &self,
        spec: &Spec,
        buf: &[u8],
        first: usize,
        starts: &mut [u16; RANKS],
    ) -> bool {
        let mut base = [0usize; SEGS];
        let mut b = first;
        let steps = usize::from(self.steps);
        for g in 0..steps {
            let (Some(step), Some(slot)) = (self.step.get(g), base.get_mut(g)) else {
                return false;
            };
            *slot = b;
            let pos = b + usize::from(step.at);
            let plan = step.plan;
            if plan.mode <= 4 {
                let Some(v) = ascii_prefix(buf, pos, plan.mode) else {
                    return false;
                };
                if v > usize::from(plan.len) {
                    return false;
                }
                b = pos + usize::from(plan.mode) + v;
            } else {
                let Some((start, end)) = read_rare(spec, usize::from(step.index), plan, buf, pos)
                else {
                    return false;
                };
                if let Some(slot) = starts.get_mut(SEGS + g) {
                    // Meaningful for frames up to 64 KiB only (see `Layout`).
                    *slot = start as u16;
                }
                b = end;
            }
        }
        if let Some(slot) = base.get_mut(steps) {
            *slot = b;
        }
        if b + usize::from(self.tail) != buf.len() {
            return false;
        }
        if !self.checks_pass(buf, &base) {
            return false;
        }
        for (slot, &b) in starts.iter_mut().zip(&base).take(steps + 1) {
            *slot = b as u16;
        }
        true
    }

    /// Where the data of the field of rank `rank` starts, from what
    /// [`Shape::fill`] recorded in `starts`.
    #[inline(always)]
    pub(crate) fn start(&self, starts: &[u16; RANKS], rank: usize) -> Option<usize> {
        let slot = *self.slot.get(rank)?;
        let at = *starts.get(usize::from(slot))?;
        Some(usize::from(at) + usize::from(*self.start.get(rank)?))
    }

    /// The rank of the field of index `i` (number less one), if the
    /// bitmap has it.
    #[inline(always)]
    pub(crate) fn rank_of(&self, i: usize) -> Option<usize> {
        let r = *self.rank_of.get(i)?;
        (r != NO_RANK).then_some(usize::from(r))
    }

    /// The plan of the field of rank `rank`.
    #[inline(always)]
    pub(crate) fn plan(&self, rank: usize) -> Option<FieldPlan> {
        self.put.get(rank).map(|p| p.2)
    }

    /// What the walk records for the frame that [`Shape::fill`] recorded
    /// `starts` for: every field's start, by rank.
    pub(crate) fn walked_starts(&self, starts: &[u16; RANKS]) -> [u16; RANKS] {
        let mut out = [0u16; RANKS];
        for (r, slot) in out.iter_mut().enumerate().take(self.ranks()) {
            *slot = self.start(starts, r).unwrap_or(0) as u16;
        }
        out
    }
}

impl Shape {
    /// Whether every check passes on `buf`, whose segments start at
    /// `base`.
    #[inline]
    fn checks_pass(&self, buf: &[u8], base: &[usize]) -> bool {
        let at = |p: Place| {
            base.get(usize::from(p.seg))
                .map_or(0, |b| b + usize::from(p.off))
        };
        self.check
            .iter()
            .take(usize::from(self.checks))
            .all(|c| (c.run)(buf, at(c.from), at(c.to), c.mode))
    }

    /// How many fields.
    pub(crate) fn ranks(&self) -> usize {
        usize::from(self.ranks)
    }

    /// For the encoder: each field's segment, way of writing ([`put`]) and
    /// plan.
    pub(crate) fn fields(&self) -> &[(u8, u8, FieldPlan)] {
        self.put.get(..self.ranks()).unwrap_or_default()
    }

    /// For the encoder: the ranks and plans of the fields that end their
    /// segment.
    pub(crate) fn steps(&self) -> impl Iterator<Item = (usize, &FieldPlan)> + '_ {
        self.step
            .iter()
            .take(usize::from(self.steps))
            .map(|s| (usize::from(s.rank), &s.plan))
    }

    /// For the encoder: the hex text of the bitmaps the fields need, with
    /// the secondary bitmap's indicator; `None` for a tertiary bitmap.
    pub(crate) fn bitmaps_text(&self) -> Option<&[u8]> {
        self.maps_text
            .get(..16 * usize::from(self.maps))
            .filter(|t| !t.is_empty())
    }

    /// For the encoder: at most how many bytes the other fields take.
    pub(crate) fn fixed_body(&self) -> usize {
        self.fixed
    }

    /// For the encoder: whether `buf`, written with this shape, its
    /// segments starting at `base` (and the last ending at `end`), holds
    /// fields the decoder accepts. The encoder has checked BCD digits as
    /// it packed them, and runs of hex text are valid as it writes them
    /// (see [`Check::built`]): left are the other runs, the `x+n` signs,
    /// and text after a BCD prefix.
    pub(crate) fn verify(&self, buf: &[u8], base: &[usize], end: usize) -> bool {
        let at = |p: Place| {
            base.get(usize::from(p.seg))
                .map_or(0, |b| b + usize::from(p.off))
        };
        let steps_ok = !self.rare
            || self
                .step
                .iter()
                .take(usize::from(self.steps))
                .enumerate()
                .all(|(g, step)| {
                    let plan = step.plan;
                    if plan.mode & mode::KIND != mode::BCD_BYTES {
                        return true;
                    }
                    let start = at(Place {
                        seg: g as u8,
                        off: step.at + u16::from(plan.mode & 3),
                    });
                    let end = base.get(g + 1).copied().unwrap_or(0);
                    check_run(plan.class, buf, start, end)
                });
        let last = base.get(usize::from(self.steps)).copied();
        steps_ok
            && last.map(|b| b + usize::from(self.tail)) == Some(end)
            && self
                .check
                .iter()
                .take(usize::from(self.checks))
                .filter(|c| !c.built)
                .all(|c| (c.run)(buf, at(c.from), at(c.to), c.mode))
    }
}

/// The shapes a spec has learnt. See the module documentation.
#[derive(Clone)]
pub(crate) struct Shapes([OnceLock<Box<Shape>>; SLOTS]);

impl Default for Shapes {
    fn default() -> Self {
        Shapes(core::array::from_fn(|_| OnceLock::new()))
    }
}

impl Shapes {
    #[inline(always)]
    fn slot_of(key: [u64; 3]) -> usize {
        let h = (key[0] ^ key[1].rotate_left(21) ^ key[2].rotate_left(42))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 58) as usize
    }

    fn slot(&self, key: [u64; 3]) -> Option<&OnceLock<Box<Shape>>> {
        self.0.get(Self::slot_of(key))
    }

    /// The shape of `key`, if known and usable.
    #[inline]
    pub(crate) fn get(&self, key: [u64; 3]) -> Option<&Shape> {
        self.get_with_slot(key).map(|(_, shape)| shape)
    }

    /// The shape of `key`, if known and usable, and its slot (for
    /// [`Shapes::at`]).
    #[inline]
    pub(crate) fn get_with_slot(&self, key: [u64; 3]) -> Option<(u8, &Shape)> {
        let slot = Self::slot_of(key);
        let shape = self.0.get(slot)?.get()?;
        (shape.key == key && shape.usable).then_some((slot as u8, shape))
    }

    /// The shape in slot `slot`, which [`Shapes::get_with_slot`] gave.
    #[inline(always)]
    pub(crate) fn at(&self, slot: u8) -> Option<&Shape> {
        self.0.get(usize::from(slot))?.get().map(|s| &**s)
    }

    /// Works out the shape of `key` if its slot is free.
    #[cold]
    pub(crate) fn learn(&self, plans: &[FieldPlan], key: [u64; 3]) {
        if let Some(slot) = self.slot(key) {
            if slot.get().is_none() {
                // Another thread may fill the slot meanwhile: either shape
                // is right for its own bitmap.
                let _ = slot.set(Box::new(Shape::build(plans, key)));
            }
        }
    }
}
