//! Consistent hashing on a ring (Karger et al.; the "ketama" layout that
//! nginx's `hash … consistent` and HAProxy's `hash-type consistent` use).
//!
//! Every instance owns points on a 64-bit ring, derived from its identity
//! (`node/ID`), not from its address or its position in the list, so every
//! Portico replica builds the same ring from the same instances. A key goes
//! to the owner of the first point at or after its hash. Adding an instance
//! to ten moves only the keys that land on the new instance's points, about
//! 1/11 of them; an instance that is skipped for one request (ejected,
//! already tried) sends its keys to the next point's owner, and nobody
//! else's keys move.

/// Points per unit of weight: enough for an even spread (±10% at 160).
const POINTS_PER_WEIGHT: u32 = 160;

/// Most points one instance gets, whatever its weight.
const MAX_POINTS: u32 = 160 * 16;

/// The ring: sorted points, each with the endpoint index that owns it.
#[derive(Debug, Default)]
pub struct Ring {
    points: Box<[(u64, u32)]>,
}

impl Ring {
    /// A ring over instances given as (identity, weight), in endpoint order.
    pub fn new<'a>(instances: impl IntoIterator<Item = (&'a str, u32)>) -> Ring {
        let instances: Vec<(&str, u32)> = instances.into_iter().collect();
        let lightest = instances.iter().map(|(_, w)| (*w).max(1)).min().unwrap_or(1);
        let mut points = Vec::new();
        for (index, (identity, weight)) in instances.iter().enumerate() {
            let count = (POINTS_PER_WEIGHT * weight.max(&1) / lightest).clamp(POINTS_PER_WEIGHT, MAX_POINTS);
            let base = stable_hash(identity.as_bytes());
            points.extend(
                (0..count).map(|i| (mix(base ^ u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)), index as u32)),
            );
        }
        points.sort_unstable();
        Ring { points: points.into_boxed_slice() }
    }

    /// The owner of `hash`, or the next owner along the ring that `accept`
    /// agrees to; `None` when it agrees to none.
    pub fn pick(&self, hash: u64, accept: impl Fn(usize) -> bool) -> Option<usize> {
        let len = self.points.len();
        let start = self.points.partition_point(|(point, _)| *point < hash);
        (0..len).map(|k| self.points[(start + k) % len].1 as usize).find(|&i| accept(i))
    }

    /// True when the ring has no point (no instance).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// FNV-1a, finished with a strong mix: fixed, so every replica and every
/// release hashes a key to the same place.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// MurmurHash3's 64-bit finalizer.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests;
