//! Which services a change in the datacenter's checks touches.

use std::collections::{BTreeMap, BTreeSet};

use crate::consul::CheckRow;

/// Services whose checks differ between `old` and `new` (both sorted by
/// node, then check ID). A node's own check (`serfHealth`, maintenance)
/// touches every service with a check on that node.
pub fn changed_services(old: &[CheckRow], new: &[CheckRow]) -> BTreeSet<String> {
    let before: BTreeMap<(&str, &str), &CheckRow> = old.iter().map(|r| ((&*r.node, &*r.check_id), r)).collect();
    let after: BTreeMap<(&str, &str), &CheckRow> = new.iter().map(|r| ((&*r.node, &*r.check_id), r)).collect();
    // A row that went or changed counts in its old form and its new one.
    let went = before.iter().filter(|(key, row)| after.get(*key) != Some(*row));
    let came = after.iter().filter(|(key, row)| before.get(*key) != Some(*row));
    let moved = went.chain(came).map(|(_, row)| *row);
    let mut services = BTreeSet::new();
    let mut nodes = BTreeSet::new();
    for row in moved {
        if row.service_name.is_empty() {
            nodes.insert(row.node.as_str());
        } else {
            services.insert(row.service_name.clone());
        }
    }
    let on_changed_node = old.iter().chain(new).filter(|r| !r.service_name.is_empty() && nodes.contains(&*r.node));
    services.extend(on_changed_node.map(|r| r.service_name.clone()));
    services
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(node: &str, check: &str, service: &str, status: &str, modify: u64) -> CheckRow {
        CheckRow {
            node: node.into(),
            check_id: check.into(),
            service_name: service.into(),
            status: status.into(),
            create_index: 1,
            modify_index: modify,
        }
    }

    fn names(set: BTreeSet<String>) -> Vec<String> {
        set.into_iter().collect()
    }

    #[test]
    fn a_status_change_touches_only_its_service() {
        let old = vec![row("n1", "a-1", "a", "passing", 5), row("n1", "b-1", "b", "passing", 5)];
        let new = vec![row("n1", "a-1", "a", "critical", 9), row("n1", "b-1", "b", "passing", 5)];
        assert_eq!(names(changed_services(&old, &new)), ["a"]);
        assert!(changed_services(&new, &new).is_empty(), "nothing moved, nothing to read");
    }

    #[test]
    fn a_check_that_appears_or_goes_touches_its_service() {
        let old = vec![row("n1", "a-1", "a", "passing", 5)];
        let new = vec![row("n1", "a-1", "a", "passing", 5), row("n2", "a-2", "a", "critical", 7)];
        assert_eq!(names(changed_services(&old, &new)), ["a"], "registered");
        let gone = vec![row("n2", "a-2", "a", "critical", 7)];
        assert_eq!(names(changed_services(&new, &gone)), ["a"], "deregistered");
    }

    #[test]
    fn a_node_check_touches_every_service_on_that_node_only() {
        let old = vec![
            row("n1", "serfHealth", "", "passing", 2),
            row("n1", "a-1", "a", "passing", 5),
            row("n1", "b-1", "b", "passing", 5),
            row("n2", "c-1", "c", "passing", 5),
        ];
        let mut new = old.clone();
        new[0] = row("n1", "serfHealth", "", "critical", 11);
        assert_eq!(names(changed_services(&old, &new)), ["a", "b"]);
    }

    #[test]
    fn the_same_check_id_on_two_nodes_is_two_checks() {
        let old = vec![row("n1", "web", "web", "passing", 5), row("n2", "web", "web", "passing", 5)];
        let new = vec![row("n1", "web", "web", "passing", 5), row("n2", "web", "api", "passing", 8)];
        assert_eq!(names(changed_services(&old, &new)), ["api", "web"], "the old and the new owner");
    }
}
