//! `neutrino flows br-tun ...`: prints Neutron's flows for a bridge as the agent
//! lays them out (from `agent::flows`), in ovs-ofctl text, for demos and benches
//! that set a switch up by hand (`... | neutrino switch replace-flows br-tun -`).

use agent::flows::{self, TunnelNet};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use switch_proto::PortType;

#[derive(Args)]
pub struct FlowsArgs {
    #[command(subcommand)]
    bridge: Bridge,
}

#[derive(Subcommand)]
enum Bridge {
    /// br-tun toward one tunnel port: the fixed tables, learning, and per network
    /// its key -> local VLAN and flooding to that port.
    BrTun {
        /// vxlan | gre
        #[arg(long = "tunnel-type", default_value = "vxlan")]
        kind: String,
        /// The tunnel port's name, e.g. vxlan-c0a86402.
        #[arg(long)]
        port: String,
        /// KEY:VLAN per network, e.g. 0x64:1 (repeatable).
        #[arg(long = "net", required = true)]
        nets: Vec<String>,
    },
}

fn parse_net(s: &str) -> Result<TunnelNet> {
    let bad = || anyhow::anyhow!("bad --net '{s}': expected KEY:VLAN, e.g. 0x64:1");
    let (k, v) = s.split_once(':').ok_or_else(bad)?;
    let key = match k.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => k.parse(),
    }
    .map_err(|_| bad())?;
    let vlan: u16 = v.parse().map_err(|_| bad())?;
    if !(1..4095).contains(&vlan) {
        bail!("bad --net '{s}': local VLAN {vlan} is not 1-4094");
    }
    Ok(TunnelNet { key, vlan })
}

pub fn run(args: FlowsArgs) -> Result<()> {
    match args.bridge {
        Bridge::BrTun { kind, port, nets } => {
            let kind: PortType = kind.parse().map_err(anyhow::Error::msg)?;
            if !kind.is_tunnel() {
                bail!("--tunnel-type must be vxlan or gre, not {}", kind.name());
            }
            let nets = nets
                .iter()
                .map(|n| parse_net(n))
                .collect::<Result<Vec<_>>>()?;
            for f in flows::br_tun(kind, &port, &nets) {
                println!("{f}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_are_key_colon_vlan() {
        let n = parse_net("0x64:1").map_err(|e| e.to_string());
        assert_eq!(n, Ok(TunnelNet { key: 100, vlan: 1 }));
        assert_eq!(
            parse_net("101:2").map_err(|e| e.to_string()),
            Ok(TunnelNet { key: 101, vlan: 2 })
        );
        for bad in ["", "64", "0x64:", "x:1", "1:0", "1:4095"] {
            assert!(parse_net(bad).is_err(), "{bad}");
        }
    }
}
