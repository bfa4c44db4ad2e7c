//! Where the labels of a scatter go: beside their point, not on it, and not on one another.
//! A greedy placement, point by point: each label tries eight places around its point (right,
//! left, above, below and the four corners, in that order), then the same farther out, and
//! takes the first that covers no point and no label already placed; where every place is
//! taken, the one that overlaps least.
//! Good enough for the tens of labels a projection or a head map carries, in O(n²).

/// How many rings of places around a point a label tries.
const RINGS: usize = 8;

/// A label's box: left, top, right, bottom (y grows downwards, as on screen and in SVG).
type Box4 = [f32; 4];

fn overlap(a: &Box4, b: &Box4) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    w * h
}

/// Places the labels of `points` (screen positions): `labels[k] = (point index, text width)`,
/// all `size` high, points drawn with radius `r`. Returns, for each label, the left end of its
/// baseline.
pub fn place(points: &[(f32, f32)], labels: &[(usize, f32)], size: f32, r: f32) -> Vec<(f32, f32)> {
    // every point is an obstacle, a little larger than its dot
    let mut taken: Vec<Box4> = points
        .iter()
        .map(|&(x, y)| [x - r - 1.0, y - r - 1.0, x + r + 1.0, y + r + 1.0])
        .collect();
    let gap = r + 2.0;
    let mut out = Vec::with_capacity(labels.len());
    for &(i, w) in labels {
        let Some(&(x, y)) = points.get(i) else {
            out.push((0.0, 0.0));
            continue;
        };
        // boxes as (left, top) of a w × size box: the eight places next to the point, then
        // the same eight a label height further out each time (a crowded cluster)
        let ring = |d: f32| {
            [
                (x + d, y - size / 2.0),
                (x - d - w, y - size / 2.0),
                (x - w / 2.0, y - d - size),
                (x - w / 2.0, y + d),
                (x + d, y - d - size * 0.8),
                (x - d - w, y - d - size * 0.8),
                (x + d, y + d * 0.6),
                (x - d - w, y + d * 0.6),
            ]
        };
        let candidates: Vec<(f32, f32)> = (0..RINGS)
            .map(|k| gap + k as f32 * size)
            .flat_map(ring)
            .collect();
        let mut best = (f32::MAX, candidates[0]);
        for &(l, t) in &candidates {
            let b = [l, t, l + w, t + size];
            let cost: f32 = taken.iter().map(|o| overlap(&b, o)).sum();
            if cost < best.0 {
                best = (cost, (l, t));
                if cost == 0.0 {
                    break;
                }
            }
        }
        let (l, t) = best.1;
        taken.push([l, t, l + w, t + size]);
        // the baseline sits about a fifth of the height above the box's bottom
        out.push((l, t + size * 0.8));
    }
    out
}

/// Where a leader line from point `(x, y)` to its label (baseline left end `(lx, ly)`, width
/// `w`, height `size`) should end, when the label sits away from the point (None when it is
/// next to it): the label box's point nearest to the point.
pub fn leader(
    (x, y): (f32, f32),
    (lx, ly): (f32, f32),
    (w, size): (f32, f32),
    r: f32,
) -> Option<(f32, f32)> {
    let (top, bottom) = (ly - size * 0.8, ly + size * 0.2);
    let nx = x.clamp(lx, lx + w);
    let ny = y.clamp(top, bottom);
    let d = ((nx - x).powi(2) + (ny - y).powi(2)).sqrt();
    (d > r + size * 0.5).then_some((nx, ny))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_crowded_points_cover_no_point_and_no_other_label() {
        // a crowded row: naive right-of-point labels (30 wide, points 20 apart) would overlap
        let points: Vec<(f32, f32)> = (0..6)
            .map(|i| (100.0 + i as f32 * 20.0, 100.0 + (i % 2) as f32 * 6.0))
            .collect();
        let labels: Vec<(usize, f32)> = (0..6).map(|i| (i, 30.0)).collect();
        let (size, r) = (10.0, 3.0);
        let at = place(&points, &labels, size, r);
        let boxes: Vec<Box4> = at
            .iter()
            .map(|&(l, base)| [l, base - size * 0.8, l + 30.0, base + size * 0.2])
            .collect();
        for (a, ba) in boxes.iter().enumerate() {
            for bb in &boxes[a + 1..] {
                assert!(overlap(ba, bb) < 1e-3, "labels overlap: {ba:?} {bb:?}");
            }
            for &(x, y) in &points {
                let dot = [x - r, y - r, x + r, y + r];
                assert!(overlap(ba, &dot) < 1e-3, "a label covers a point");
            }
        }
    }
}
