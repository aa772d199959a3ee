#!/usr/bin/python3
# Unlocks the test keyring's login collection without a prompt, through
# gnome-keyring's own interface (the Secret Service's Unlock would prompt,
# and `gnome-keyring-daemon --unlock` does not reach a running daemon).
#
#   ck-keyring-unlock.py PASSWORD
#
# SPDX-License-Identifier: GPL-3.0-or-later
import sys

import dbus

bus = dbus.SessionBus()
service = bus.get_object('org.freedesktop.secrets', '/org/freedesktop/secrets')
# A "plain" session: the password travels over the private test bus only.
_, session = service.OpenSession('plain', dbus.String('', variant_level=1),
                                 dbus_interface='org.freedesktop.Secret.Service')
secret = dbus.Struct((session, dbus.ByteArray(b''), dbus.ByteArray(sys.argv[1].encode()),
                      'text/plain'), signature='oayays')
dbus.Interface(service, 'org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface') \
    .UnlockWithMasterPassword(dbus.ObjectPath('/org/freedesktop/secrets/collection/login'), secret)
