# stas-vm: subsystems=2 timeout=180 kernels=6.1,6.12
# Exercises the nvmet helpers of lib.sh against the real kernel, so that scenarios
# can rely on them: AEN on link/unlink, referrals, port outage and recovery of
# discovery and I/O controllers, host restriction, teardown.
set -e
nvmet_setup 2
nvme_uevents_start

log "persistent discovery controller on 127.0.0.1:8009"
reply=$(fabrics_connect "transport=tcp,traddr=127.0.0.1,trsvcid=8009,nqn=$DISC_NQN,hostnqn=$HOSTNQN,hostid=$HOSTID,keep_alive_tmo=30,reconnect_delay=1,ctrl_loss_tmo=60")
expect_match "$reply" '^instance=[0-9]+,cntlid=[0-9]+$' "/dev/nvme-fabrics reply"
DC=${reply%%,*}; DC=nvme${DC#instance=}
expect_eq "$(cat /sys/class/nvme/$DC/cntrltype)" discovery "cntrltype of $DC"
expect_eq "$(cat /sys/class/nvme/$DC/kato)" 30 "kato of $DC"

log "AEN: link a third subsystem to 127.0.0.1:8009 after reading the log (re-arms AENs)"
check nvme get-log "/dev/$DC" -i 0x70 -l 16 > /dev/null
nvmet_add_subsys 3
nvmet_link 3 127.0.0.1:8009
check wait_for "grep -q '$DC NVME_AEN=0x70f002' $NVME_UEVENTS_LOG" 10
expect_eq "$(nvme_discover_count 127.0.0.1 8009)" 3 "NVM subsystems on 127.0.0.1:8009 after link"
expect_eq "$(nvme_discover_count ::1 8009)" 2 "NVM subsystems on ::1:8009 (not linked there)"

log "AEN: unlink it again"
check nvme get-log "/dev/$DC" -i 0x70 -l 16 > /dev/null
: > "$NVME_UEVENTS_LOG"
nvmet_unlink 3 "$NVMET_PORT_DISC4"
check wait_for "grep -q '$DC NVME_AEN=0x70f002' $NVME_UEVENTS_LOG" 10
expect_eq "$(nvme_discover_count 127.0.0.1 8009)" 2 "NVM subsystems on 127.0.0.1:8009 after unlink"

log "referral from 127.0.0.1:8009 to [::1]:8009"
nvmet_add_referral 127.0.0.1:8009 ::1 8009
out=$(nvme discover -t tcp -a 127.0.0.1 -s 8009)
expect_eq "$(printf '%s\n' "$out" | grep -c '^subtype: *discovery subsystem referral')" 1 "referrals listed"
expect_match "$out" 'traddr: *::1' "referral address"
nvmet_del_referral 127.0.0.1:8009 ::1 8009
out=$(nvme discover -t tcp -a 127.0.0.1 -s 8009)
expect_eq "$(printf '%s\n' "$out" | grep -c '^subtype: *discovery subsystem referral')" 0 "referrals listed after removal"

log "outage: I/O controller on 127.0.0.1:4420 and the discovery controller"
check nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$(nvmet_subnqn 1)" --reconnect-delay=1 --ctrl-loss-tmo=60
check wait_for '[ -n "$(nvme_ctrls io)" ]' 10
IO=$(nvme_ctrls io)
nvmet_add_referral 1 ::1 8010      # must survive the outage
: > "$NVME_UEVENTS_LOG"
nvmet_port_down 127.0.0.1:4420
nvmet_port_down "$NVMET_PORT_DISC4"
check wait_for "[ \"\$(cat /sys/class/nvme/$IO/state)\" = connecting ]" 10
check wait_for "[ \"\$(cat /sys/class/nvme/$DC/state)\" = connecting ]" 10
sleep 2
expect_eq "$(cat /sys/class/nvme/$IO/state)" connecting "state of $IO while the port is down"
nvmet_port_up 127.0.0.1:4420
nvmet_port_up 1
check wait_for "[ \"\$(cat /sys/class/nvme/$IO/state)\" = live ]" 15
check wait_for "[ \"\$(cat /sys/class/nvme/$DC/state)\" = live ]" 15
check wait_for "grep -q '$DC NVME_EVENT=rediscover' $NVME_UEVENTS_LOG" 5
expect_eq "$(nvme_discover_count 127.0.0.1 8009)" 2 "NVM subsystems on 127.0.0.1:8009 after the outage"
expect_eq "$(nvme discover -t tcp -a 127.0.0.1 -s 8009 | grep -c '^subtype: *discovery subsystem referral')" 1 \
    "referral restored"
nvmet_del_referral 1 ::1 8010
log "uevents during the outage:"
cat "$NVME_UEVENTS_LOG"

log "host restriction on subsystem 2"
nvmet_allow_host 2 nqn.2014-08.org.example:some-other-host
expect_eq "$(nvme_discover_count 127.0.0.1 8009)" 1 "NVM subsystems visible to us while restricted"
if nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$(nvmet_subnqn 2)" 2>&1; then fail "connect to a restricted subsystem succeeded"; fi
echo "ok: connect to the restricted subsystem was refused"
nvmet_allow_host 2 "$HOSTNQN"
expect_eq "$(nvme_discover_count 127.0.0.1 8009)" 2 "NVM subsystems visible once our host NQN is allowed"
check nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$(nvmet_subnqn 2)"
nvmet_allow_any_host 2
expect_eq "$(cat "$NVMET/subsystems/$(nvmet_subnqn 2)/attr_allow_any_host")" 1 "allow_any_host"

check nvme disconnect-all
check wait_for '[ -z "$(nvme_ctrls)" ]' 15
nvme_uevents_stop
nvmet_teardown
expect_eq "$(find "$NVMET/ports" "$NVMET/subsystems" "$NVMET/hosts" -mindepth 1 -maxdepth 1 | wc -l)" 0 \
    "nvmet objects after teardown"
log "done"
