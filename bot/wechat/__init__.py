"""WeChat Official Account (公众号) adapter and WeCom (企业微信) group-robot delivery."""
