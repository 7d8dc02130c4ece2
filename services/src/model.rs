//! The shop's documents and the rules for accepting them.

use serde::{Deserialize, Serialize};

/// A catalog entry with its stock. Stored at `shop/products/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub price_cents: u64,
    pub stock: u64,
}

/// One line of a cart or an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub product_id: String,
    pub name: String,
    pub price_cents: u64,
    pub quantity: u64,
}

/// A cart. Stored at `shop/carts/<id>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub id: String,
    pub items: Vec<Line>,
    /// Sum of price × quantity; recomputed on every change.
    #[serde(default)]
    pub total_cents: u64,
}

/// A placed order. Stored at `shop/orders/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub cart_id: String,
    pub items: Vec<Line>,
    pub total_cents: u64,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// Who placed it: the identity Portico authenticated (`X-Auth-Subject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
}

impl Cart {
    /// An empty cart.
    pub fn empty(id: &str) -> Cart {
        Cart { id: id.to_string(), items: Vec::new(), total_cents: 0 }
    }

    /// Recomputes the total.
    pub fn recount(mut self) -> Cart {
        self.total_cents = total(&self.items);
        self
    }
}

/// Sum of price × quantity, saturating instead of overflowing.
pub fn total(lines: &[Line]) -> u64 {
    lines.iter().fold(0u64, |sum, l| sum.saturating_add(l.price_cents.saturating_mul(l.quantity)))
}

/// IDs are 1–64 characters of `a-z 0-9 - _`, so they are safe as KV keys and path segments.
pub fn check_id(what: &str, id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid {what} {id:?}: use 1-64 characters of a-z, 0-9, '-' and '_'"))
    }
}

/// A quantity must be a whole number from 1 to 1,000,000.
pub fn check_quantity(quantity: i64) -> Result<u64, String> {
    if (1..=1_000_000).contains(&quantity) {
        Ok(quantity as u64)
    } else {
        Err(format!("quantity must be between 1 and 1000000, got {quantity}"))
    }
}

/// The products loaded on first start.
pub fn seed() -> Vec<Product> {
    let p = |id: &str, name: &str, description: &str, price_cents, stock| Product {
        id: id.into(),
        name: name.into(),
        description: description.into(),
        price_cents,
        stock,
    };
    vec![
        p("espresso-cup", "Espresso cup", "Porcelain cup for a double espresso", 900, 40),
        p("french-press", "French press", "One-litre glass press for coffee or tea", 3200, 15),
        p("grinder", "Burr grinder", "Hand grinder with ceramic burrs", 5400, 8),
        p("kettle", "Gooseneck kettle", "Pour-over kettle with thermometer", 4800, 12),
        p("beans-house", "House blend beans", "Medium roast coffee beans, 1 kg", 2200, 100),
        p("filter-papers", "Filter papers", "Paper filters for pour-over, pack of 100", 600, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_quantities_are_checked() {
        assert!(check_id("product", "beans-house").is_ok());
        for bad in ["", "UPPER", "a/b", "../x", &"x".repeat(65)] {
            assert!(check_id("product", bad).is_err(), "{bad}");
        }
        assert_eq!(check_quantity(3), Ok(3));
        for bad in [0, -1, 1_000_001] {
            assert!(check_quantity(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn totals_saturate() {
        let line = |price, quantity| Line { product_id: "p".into(), name: "p".into(), price_cents: price, quantity };
        assert_eq!(total(&[line(250, 2), line(100, 1)]), 600);
        assert_eq!(total(&[line(u64::MAX, 2)]), u64::MAX);
    }
}
