"""Servers on loopback the operator CLI starts itself: `process` (a server in its own process group, stopped with
signal -> SIGKILL escalation, never outliving its owner), `ports` (free ephemeral ports), `moto` and `moto_tls`
(moto standing in for AWS, plain and over verified TLS). `local up` and the benches use them; the tests' server
helpers (tests/servers/) build on them. Nothing here imports tests/."""
