"""Telegram: translation, the PTB and aiogram adapters, polling and webhook runners."""
