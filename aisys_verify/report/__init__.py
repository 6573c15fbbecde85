"""Reporting: Allure evidence (steps, attachments, labels, categories) when allure-pytest is active."""
