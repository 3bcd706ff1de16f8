<?php
/**
 * Plugin Name: Outreach canonical link
 * Description: Lets the outreach pipeline set a post's canonical link (the programme's own
 * site) through the REST API field meta.outreach_canonical, and prints it in the page head in
 * place of WordPress's own. Copy this file into wp-content/mu-plugins/.
 */

add_action( 'init', function () {
	register_post_meta( 'post', 'outreach_canonical', array(
		'type'              => 'string',
		'single'            => true,
		'show_in_rest'      => array( 'schema' => array( 'format' => 'uri' ) ),
		'sanitize_callback' => 'esc_url_raw',
		'auth_callback'     => function () {
			return current_user_can( 'edit_posts' );
		},
	) );
} );

add_action( 'wp', function () {
	if ( ! is_singular( 'post' ) ) {
		return;
	}
	$canonical = get_post_meta( get_queried_object_id(), 'outreach_canonical', true );
	if ( ! $canonical ) {
		return;
	}
	remove_action( 'wp_head', 'rel_canonical' );
	add_action( 'wp_head', function () use ( $canonical ) {
		echo '<link rel="canonical" href="' . esc_url( $canonical ) . '" />' . "\n";
	} );
} );
