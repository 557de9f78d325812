//! `lab bench-l3 metering`: what counting costs (issue 20). One TCP stream
//! through TenantA-R1 each way (vm2 -> the outside by SNAT, the outside -> vm1
//! by its floating IP), with no metering label on the router and with one label
//! of RULES rules per direction (all but the last match nothing, so every packet
//! walks them all), alternating in the same run.

use crate::bench_l3::{Flow, iperf, lab_flows, median};
use crate::topology::Lab;
use crate::{Result, fail, progress};
use serde_json::json;
use std::time::{Duration, Instant};

/// Creates the label and its rules; returns its id.
fn add_label(lab: &Lab, project: &str, rules: usize) -> Result<String> {
    let project = project.to_string();
    lab.api.with(lab.api.admin(), move |c| async move {
        let v = c
            .post(
                "/v2.0/metering/metering-labels",
                &json!({"metering_label": {"name": "bench", "project_id": project}}),
            )
            .await
            .map_err(|e| fail!("metering label: {e}"))?;
        let id = v["metering_label"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for direction in ["egress", "ingress"] {
            for i in 0..rules {
                // The last rule matches the tenant's subnet; the others never do.
                let prefix = if i + 1 == rules {
                    "10.0.0.0/24".to_string()
                } else {
                    format!("172.{}.{}.0/24", 16 + i / 256, i % 256)
                };
                let body = json!({"metering_label_rule": {"metering_label_id": id,
                    "direction": direction, "remote_ip_prefix": prefix}});
                c.post("/v2.0/metering/metering-label-rules", &body)
                    .await
                    .map_err(|e| fail!("metering rule: {e}"))?;
            }
        }
        Ok(id)
    })
}

fn delete_label(lab: &Lab, id: &str) -> Result<()> {
    let path = format!("/v2.0/metering/metering-labels/{id}");
    lab.api.with(lab.api.admin(), move |c| async move {
        c.delete(&path)
            .await
            .map_err(|e| fail!("delete metering label: {e}"))
    })
}

/// Waits until the router's namespace has label `id`'s counters (or has none).
fn wait_table(ns: &str, id: &str, present: bool) -> Result<()> {
    let name = agent::compile::metering::counter(id, "egress");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let has = agent::l3::metering::counters(ns)
            .map(|c| c.contains_key(&name))
            .unwrap_or(false);
        if has == present {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(fail!(
                "the metering table in {ns} did not change within 30 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn run(lab: &Lab, rules: usize, runs: usize, secs: u32) -> Result<()> {
    let (snat, fip) = lab_flows(lab)?;
    let router = lab
        .state
        .routers
        .first()
        .ok_or_else(|| fail!("the lab has no router"))?;
    let ns = format!("qrouter-{}", router.id);
    let project = lab
        .state
        .tenant(&router.tenant)
        .ok_or_else(|| fail!("no tenant {}", router.tenant))?
        .project_id
        .clone();
    let flows: [(&str, &Flow); 2] = [
        ("vm2 -> outside (SNAT)", &snat),
        ("outside -> vm1 (floating IP)", &fip),
    ];
    let mut none = vec![Vec::new(); 2];
    let mut metered = vec![Vec::new(); 2];
    for run in 0..runs {
        progress(format!("run {}/{runs}: no label", run + 1));
        for (i, (_, f)) in flows.iter().enumerate() {
            none[i].push(iperf(f, secs)?);
        }
        let id = add_label(lab, &project, rules)?;
        wait_table(&ns, &id, true)?;
        progress(format!(
            "run {}/{runs}: {rules} rules per direction",
            run + 1
        ));
        for (i, (_, f)) in flows.iter().enumerate() {
            metered[i].push(iperf(f, secs)?);
        }
        delete_label(lab, &id)?;
        wait_table(&ns, &id, false)?;
    }
    println!(
        "TCP through the router, one label of {rules} rules per direction against none ({runs} runs of {secs} s, medians, Gbps):"
    );
    for (i, (what, _)) in flows.iter().enumerate() {
        let (a, b) = (median(&metered[i]), median(&none[i]));
        println!(
            "  {what:<30} metered {a:>6.2}   none {b:>6.2}   ratio {:.2}",
            a / b
        );
    }
    Ok(())
}
