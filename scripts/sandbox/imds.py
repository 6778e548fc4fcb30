"""An IMDSv2 stub for one node: `python -m scripts.sandbox.imds --instance-id ... --region ...`, run in the node's
network namespace on 169.254.169.254:80.

It answers what the rendered scripts and their clients read: a session token (PUT /latest/api/token, then required
on every GET, as the launch templates demand `httpTokens: required`), instance id, region, availability zone, the
instance identity document, the role's temporary credentials (botocore, the AWS CLI and pgBackRest's
`repo1-s3-key-type=auto`), and an empty list of network interfaces (attaching the ENI is skipped).
"""

from __future__ import annotations

import argparse
import datetime
import json
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN_HEADER = "X-aws-ec2-metadata-token"


def metadata(args: argparse.Namespace) -> dict[str, str]:
    expiration = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    credentials = {
        "Code": "Success",
        "Type": "AWS-HMAC",
        "AccessKeyId": "testing",
        "SecretAccessKey": "testing",
        "Token": "testing",
        "Expiration": expiration,
        "LastUpdated": expiration,
    }
    identity = {
        "instanceId": args.instance_id,
        "region": args.region,
        "availabilityZone": args.availability_zone,
        "accountId": "123456789012",
        "instanceType": args.instance_type,
        "privateIp": args.private_ip,
    }
    return {
        "/latest/meta-data/instance-id": args.instance_id,
        "/latest/meta-data/instance-type": args.instance_type,
        "/latest/meta-data/local-ipv4": args.private_ip,
        "/latest/meta-data/placement/region": args.region,
        "/latest/meta-data/placement/availability-zone": args.availability_zone,
        # with and without the slash: botocore asks for the directory, pgBackRest for the bare path
        "/latest/meta-data/iam/security-credentials/": args.role,
        "/latest/meta-data/iam/security-credentials": args.role,
        f"/latest/meta-data/iam/security-credentials/{args.role}": json.dumps(credentials),
        "/latest/meta-data/network/interfaces/macs/": "",
        "/latest/dynamic/instance-identity/document": json.dumps(identity),
    }


def make_handler(answers: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    tokens: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                self._send(400, "")
                return
            token = secrets.token_urlsafe(24)
            tokens.add(token)
            self._send(200, token)

        def do_GET(self) -> None:
            if self.headers.get(TOKEN_HEADER) not in tokens:
                self._send(401, "")  # IMDSv2 only, as the launch templates require
                return
            answer = answers.get(self.path.split("?", 1)[0])
            self._send(200, answer) if answer is not None else self._send(404, "")

        def log_message(self, format: str, *args: object) -> None:
            print(f"imds: {self.command} {self.path}", flush=True)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cryb-sandbox-imds")
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--availability-zone", default="")
    parser.add_argument("--instance-type", default="")
    parser.add_argument("--private-ip", default="")
    parser.add_argument("--role", default="cryb-sandbox-node")
    parser.add_argument("--listen", default="169.254.169.254:80")
    args = parser.parse_args(argv)
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), make_handler(metadata(args)))
    server.daemon_threads = True
    print(f"imds: serving {args.instance_id} on {args.listen}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
