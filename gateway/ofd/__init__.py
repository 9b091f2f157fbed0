"""The OFD 2.0.2/2.0.3 front door: installed Kazakh registers speak their own protocol to tracegate."""
