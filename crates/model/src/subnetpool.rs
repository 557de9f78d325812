//! Subnet pools (Neutron's `subnet_allocation`): prefixes that subnets are
//! carved from.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubnetPool {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    /// CIDRs, all of one IP version, none inside another.
    pub prefixes: Vec<String>,
    pub ip_version: u8,
    /// The prefix lengths show as strings, as Neutron's API has them.
    #[serde(with = "text_number")]
    pub default_prefixlen: u8,
    #[serde(with = "text_number")]
    pub min_prefixlen: u8,
    #[serde(with = "text_number")]
    pub max_prefixlen: u8,
    pub default_quota: Option<u64>,
    pub shared: bool,
    pub is_default: bool,
    /// The address scope the pool is in (its prefixes overlap no other pool's there).
    pub address_scope_id: Option<String>,
    pub tags: Vec<String>,
    pub revision_number: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// A number written as a string, read from a string or a number.
mod text_number {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &u8, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            N(u8),
            S(String),
        }
        match Either::deserialize(d)? {
            Either::N(n) => Ok(n),
            Either::S(s) => s.parse().map_err(D::Error::custom),
        }
    }
}
