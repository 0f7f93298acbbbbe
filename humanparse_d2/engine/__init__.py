"""humanparse_d2.engine"""
