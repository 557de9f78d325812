# Neutron's br-tun pipeline for one network (VNI 0x64 on local VLAN 1) towards one
# tunnel port, as the OVS agent lays it out. Sourced by the demo and the benches.
#   neutron_br_tun_flows vxlan|gre TUNNEL-PORT
neutron_br_tun_flows() {
    local port=$2 cls=4
    [ "$1" = gre ] && cls=3
    cat <<FLOWS
table=0,priority=1,in_port=patch-int,actions=resubmit(,2)
table=0,priority=1,in_port=$port,actions=resubmit(,$cls)
table=0,priority=0,actions=drop
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)
table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)
table=$cls,priority=1,tun_id=0x64,actions=mod_vlan_vid:1,resubmit(,10)
table=3,priority=0,actions=drop
table=4,priority=0,actions=drop
table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:patch-int
table=20,priority=0,actions=resubmit(,22)
table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:0x64,output:$port
table=22,priority=0,actions=drop
FLOWS
}
