"""humanparse_d2.evaluation"""
