"""The exact set of Asterisk modules the conference PBX loads (``autoload=no``)."""

from __future__ import annotations

# Order matters only for readability: Asterisk resolves load order from each
# module's declared dependencies.
MODULES: tuple[str, ...] = (
    # Configuration / object storage used by res_pjsip.
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    # Timing source: ConfBridge mixing needs one.
    "res_timing_timerfd.so",
    # SIP stack.
    "res_pjproject.so",
    "res_pjsip.so",
    "res_pjsip_session.so",
    "res_pjsip_pubsub.so",
    "chan_pjsip.so",
    "res_pjsip_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_caller_id.so",
    "res_pjsip_registrar.so",
    "res_pjsip_sdp_rtp.so",
    "res_pjsip_dtmf_info.so",
    # Bans on bad logins: ACLs from pjsip_bans.conf (deploy/bans.py).
    "res_pjsip_acl.so",
    # NAT (Contact rewriting), registration trunks, SRTP (SDES) on TLS calls.
    "res_pjsip_nat.so",
    "res_pjsip_outbound_registration.so",
    "res_pjsip_outbound_authenticator_digest.so",
    "res_srtp.so",
    "res_rtp_asterisk.so",
    # Codecs and sound file formats.
    "codec_ulaw.so",
    "codec_alaw.so",
    "codec_gsm.so",
    "codec_a_mu.so",
    "codec_resample.so",
    "format_gsm.so",
    "format_wav.so",
    "format_pcm.so",
    # Dialplan.
    "pbx_config.so",
    "app_read.so",
    "app_playback.so",
    "app_userevent.so",
    "app_exec.so",
    "func_db.so",
    "func_channel.so",
    "func_strings.so",
    "func_logic.so",
    # Lockouts (extensions.conf): Gosub, CALLERID, CUT, GROUP()/GROUP_COUNT() (the IVR cap),
    # LOCK() around the counters.
    "app_stack.so",
    "func_callerid.so",
    "func_cut.so",
    "func_groupcount.so",
    "func_lock.so",
    # Conferencing.
    "bridge_softmix.so",
    "app_confbridge.so",
    # ConfBridge records a call through MixMonitor (ConfbridgeStartRecord).
    "app_mixmonitor.so",
    # Music for callers waiting for a moderator (ConfBridge) or in the lobby (StartMusicOnHold).
    "res_musiconhold.so",
    # Browser join (issue 12): SIP over a WebSocket on Asterisk's loopback HTTP server
    # (http.conf; the bot's web server proxies it), and Opus, the browsers' own codec.
    # DTLS-SRTP needs no more: res_srtp and res_rtp_asterisk (which makes the certificate).
    "res_http_websocket.so",
    "res_pjsip_transport_websocket.so",
    "codec_opus_open_source.so",
    "res_format_attr_opus.so",
)
