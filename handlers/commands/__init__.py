"""Chat commands, one room per kind of user; importing this package fills the command table."""

from handlers.commands import common, leader, loop, officer, resident, staff, unit
from handlers.commands.registry import COMMANDS, Command

__all__ = ["COMMANDS", "Command", "common", "leader", "loop", "officer", "resident", "staff", "unit"]
