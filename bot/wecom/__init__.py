"""WeCom (企业微信) intelligent robot (智能机器人) in API mode: group and one-to-one intake."""
