"""humanparse_d2.utils"""
