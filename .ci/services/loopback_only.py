"""Fail unless every TCP socket the given processes (and their children) listen on is bound to loopback.

Usage: python3 .ci/services/loopback_only.py PID [PID ...]
The service scripts call it after start-up, so a daemon that ignored its bind setting stops the test set-up
instead of listening on the machine's other interfaces. Reads /proc only (no ss/netstat needed).
"""
import ipaddress
import os
import sys

LISTEN = "0A"


def listening_sockets() -> dict[str, str]:
    """{socket inode: "address:port"} for every listening TCP socket on the machine."""
    sockets = {}
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        if not os.path.exists(table):
            continue
        with open(table) as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != LISTEN:
                    continue
                address_hex, port_hex = local.split(":")
                raw = bytes.fromhex(address_hex)
                # /proc prints each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                address = ipaddress.ip_address(raw) if width == 4 else ipaddress.IPv6Address(raw)
                sockets[inode] = f"{address}:{int(port_hex, 16)}"
    return sockets


def socket_inodes(pid: str) -> set[str]:
    inodes = set()
    folder = f"/proc/{pid}/fd"
    try:
        names = os.listdir(folder)
    except OSError:  # the process ended meanwhile
        return inodes
    for name in names:
        try:
            target = os.readlink(os.path.join(folder, name))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def with_descendants(pids: list[str]) -> set[str]:
    """The processes and all their descendants (a server's worker processes listen too)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[entry] = handle.read().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue
    found, frontier = set(pids), set(pids)
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def main(pids: list[str]) -> int:
    sockets = listening_sockets()
    exposed = []
    for pid in sorted(with_descendants(pids)):
        for inode in socket_inodes(pid) & sockets.keys():
            address = sockets[inode].rsplit(":", 1)[0]
            ip = ipaddress.ip_address(address)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            if not ip.is_loopback:
                exposed.append(f"pid {pid} listens on {sockets[inode]}")
    for line in exposed:
        print(f"loopback_only: {line} (not loopback)", file=sys.stderr)
    return 1 if exposed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
