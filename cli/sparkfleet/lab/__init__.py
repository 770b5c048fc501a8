"""The lab: local stand-in Sparks. Real Linux hosts (systemd as PID 1, sshd) in containers; see LAB.md."""
