//! Where the labels of a scatter go: beside their point, not on it, and not on one another.
//! A greedy placement, point by point: each label tries eight places around its point (right,
//! left, above, below and the four corners, in that order), then the same farther out, and
//! takes the first that covers no point and no label already placed; where every place is
//! taken, the one that overlaps least.
//! The boxes already taken are kept in a grid of cells, so a candidate is checked only
//! against the boxes near it (the window's projection places 128 labels among 1,664 points
//! every frame); the overlaps are summed in the order the boxes were taken, so the placement
//! is the one checking every box would give.

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
    let mut taken = Taken::new((size * 4.0).max(8.0));
    for &(x, y) in points {
        taken.push([x - r - 1.0, y - r - 1.0, x + r + 1.0, y + r + 1.0]);
    }
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
            let cost = taken.cost(&b);
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

/// The boxes taken so far, and a grid of square cells listing the boxes that touch each.
struct Taken {
    boxes: Vec<Box4>,
    cell: f32,
    grid: std::collections::HashMap<(i64, i64), Vec<usize>>,
    /// scratch: the boxes near a candidate
    near: Vec<usize>,
}

impl Taken {
    fn new(cell: f32) -> Self {
        Taken {
            boxes: Vec::new(),
            cell,
            grid: std::collections::HashMap::new(),
            near: Vec::new(),
        }
    }

    /// The cells a box touches (a box that is not finite touches none).
    fn cells(&self, b: &Box4) -> impl Iterator<Item = (i64, i64)> {
        let c = |v: f32| (v / self.cell).floor() as i64;
        let ok = b.iter().all(|v| v.is_finite());
        let (x0, y0, x1, y1) = if ok {
            (c(b[0]), c(b[1]), c(b[2]), c(b[3]))
        } else {
            (0, 0, -1, -1)
        };
        (x0..=x1).flat_map(move |x| (y0..=y1).map(move |y| (x, y)))
    }

    fn push(&mut self, b: Box4) {
        let id = self.boxes.len();
        let cells: Vec<(i64, i64)> = self.cells(&b).collect();
        for c in cells {
            self.grid.entry(c).or_default().push(id);
        }
        self.boxes.push(b);
    }

    /// The area of `b` that the boxes taken cover (summed in the order they were taken).
    fn cost(&mut self, b: &Box4) -> f32 {
        let mut near = std::mem::take(&mut self.near);
        near.clear();
        for c in self.cells(b) {
            if let Some(ids) = self.grid.get(&c) {
                near.extend_from_slice(ids);
            }
        }
        near.sort_unstable();
        near.dedup();
        let cost = near.iter().map(|&i| overlap(b, &self.boxes[i])).sum();
        self.near = near;
        cost
    }
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
