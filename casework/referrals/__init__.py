"""Partner organisations and referrals to them."""
